"""Categories, rate items, rates, cancellation terms, departments and offices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from services.marketplace.models import cancellation_terms, category, department, office, rate, rate_item
from services.marketplace.repository.common import Tx, first, first_of, paged, positional, rows

_RATES = ("(SELECT coalesce(json_agg(json_build_array(r.id, r.area_code, r.valid_from, r.valid_to, r.amount_minor) "
          "ORDER BY r.area_code, r.valid_from, r.id), '[]') FROM marketplace.rate r "
          "WHERE r.item_code = {item}.code AND r.area_code = ANY(CAST(:areas AS text[])))")
# The rate card's version as a booking's insert compares it (text; '' while the row is missing).
CATALOG_VERSION = "coalesce((SELECT version::text FROM marketplace.catalog_state WHERE id = 1), '')"
# Everything a booking is priced from, in one round trip: the job item with its rates in the area
# and above it, the category's visit-charge item with its rates, the cancellation terms, and the
# rate card's version they were read at (service/catalog.py keeps quotes by it).
_QUOTE = positional(
    "SELECT i.code, i.category_code, i.kind, i.name, " + CATALOG_VERSION + " AS catalog_version, "
    + _RATES.format(item="i") + " AS rates, "
    "(SELECT json_build_array(v.code, v.category_code, v.kind, v.name, " + _RATES.format(item="v") + ") "
    " FROM marketplace.rate_item v WHERE v.category_code = i.category_code AND v.kind = 'visit' "
    " ORDER BY v.code LIMIT 1) AS visit, "
    "(SELECT row_to_json(t) FROM marketplace.cancellation_terms t WHERE t.category_code = i.category_code) AS terms "
    "FROM marketplace.rate_item i WHERE i.code = :code",
    ("code", "category_code", "kind", "name", "catalog_version", "rates", "visit", "terms"))
_OFFICE = positional("SELECT code, area_code, department_code FROM marketplace.office WHERE code = :code",
                     ("code", "area_code", "department_code"))


async def quote_rows(db: Tx, item_code: str, area_codes: Sequence[str]) -> Mapping[Any, Any] | None:
    """The item (code, category_code, kind, name, catalog_version) with ``rates`` ([id, area, from, to,
    amount] lists), ``visit`` ([code, category_code, kind, name, rates] or null) and ``terms`` (object or
    null)."""
    return await first_of(db, _QUOTE, {"code": item_code, "areas": list(area_codes)})


async def office_of(db: Tx, code: str) -> Mapping[Any, Any] | None:
    """An office's code, area and department (a department booking's requisition)."""
    return await first_of(db, _OFFICE, {"code": code})


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_category(self, values: dict[str, Any]) -> RowMapping:
        next_lane = select(func.coalesce(func.max(category.c.skill_no), 0) + 1).scalar_subquery()
        row = await first(self.session, insert(category).values(**values, skill_no=next_lane).returning(category))
        assert row is not None
        return row

    async def category(self, code: str) -> RowMapping | None:
        return await first(self.session, select(category).where(category.c.code == code))

    async def categories(self, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        return await paged(self.session, select(category).order_by(category.c.code), limit=limit, offset=offset)

    async def insert_item(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(rate_item).values(**values).returning(rate_item))
        assert row is not None
        return row

    async def item(self, code: str) -> RowMapping | None:
        return await first(self.session, select(rate_item).where(rate_item.c.code == code))

    async def items(self, *, category_code: str | None, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(rate_item).order_by(rate_item.c.category_code, rate_item.c.code)
        if category_code:
            stmt = stmt.where(rate_item.c.category_code == category_code)
        return await paged(self.session, stmt, limit=limit, offset=offset)

    async def lock_item_rates(self, item_code: str, area_code: str) -> None:
        """Serialise rate changes of one item and area (so two overlapping periods cannot both pass the check)."""
        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"rate:{item_code}:{area_code}"))))

    async def insert_rate(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(rate).values(**values).returning(rate))
        assert row is not None
        return row

    async def rates_for(self, item_code: str, area_codes: Sequence[str] | None = None) -> list[RowMapping]:
        stmt = select(rate).where(rate.c.item_code == item_code)
        if area_codes is not None:
            stmt = stmt.where(rate.c.area_code.in_(list(area_codes)))
        return list(await rows(self.session, stmt.order_by(rate.c.area_code, rate.c.valid_from, rate.c.id)))

    async def close_open_rate(self, item_code: str, area_code: str, on: date) -> None:
        await self.session.execute(update(rate).where(
            rate.c.item_code == item_code, rate.c.area_code == area_code, rate.c.valid_to.is_(None),
            rate.c.valid_from < on).values(valid_to=on))

    async def rate(self, rate_id: Any) -> RowMapping | None:
        return await first(self.session, select(rate).where(rate.c.id == rate_id))

    async def rates_page(self, item_code: str | None, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(rate).order_by(rate.c.item_code, rate.c.area_code, rate.c.valid_from, rate.c.id)
        if item_code:
            stmt = stmt.where(rate.c.item_code == item_code)
        return await paged(self.session, stmt, limit=limit, offset=offset)

    async def upsert_terms(self, values: dict[str, Any]) -> RowMapping:
        stmt = pg_insert(cancellation_terms).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=[cancellation_terms.c.category_code],
            set_={k: stmt.excluded[k] for k in values if k != "category_code"} | {"updated_at": func.now()},
        ).returning(cancellation_terms)
        row = await first(self.session, upsert)
        assert row is not None
        return row

    async def terms(self, category_code: str) -> RowMapping | None:
        return await first(self.session, select(cancellation_terms).where(
            cancellation_terms.c.category_code == category_code))

    async def insert_department(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(department).values(**values).returning(department))
        assert row is not None
        return row

    async def department(self, code: str) -> RowMapping | None:
        return await first(self.session, select(department).where(department.c.code == code))

    async def departments(self, scopes: Sequence[str], *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(department).where(within_any(department.c.area_code, list(scopes))).order_by(department.c.code)
        return await paged(self.session, stmt, limit=limit, offset=offset)

    async def insert_office(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(office).values(**values).returning(office))
        assert row is not None
        return row

    async def office(self, code: str) -> RowMapping | None:
        return await first(self.session, select(office).where(office.c.code == code))

    async def offices(self, department_code: str) -> list[RowMapping]:
        stmt = select(office).where(office.c.department_code == department_code).order_by(office.c.code)
        return list(await rows(self.session, stmt))
