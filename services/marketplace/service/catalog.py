"""The rate card: categories, items, rates with validity periods, cancellation terms, quotes;
departments and their offices."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import ancestor_codes
from kernel.auth import Identity
from kernel.errors import Conflict, NotFound
from services.marketplace.repository.catalog import CatalogRepository, quote_rows
from services.marketplace.repository.common import Tx
from services.marketplace.rules import access
from services.marketplace.rules.pricing import RateRow, currency_of, periods_overlap, pick_rate, terms_snapshot
from services.marketplace.schemas.catalog import (
    CategoryIn,
    DepartmentIn,
    OfficeIn,
    Quote,
    QuoteLine,
    RateIn,
    RateItemIn,
    RateOut,
    TermsIn,
)
from services.marketplace.service.common import invalid, require_area, unique_as_conflict


async def create_category(session: AsyncSession, identity: Identity, body: CategoryIn) -> RowMapping:
    access.require(identity, access.ADMIN)
    with unique_as_conflict(f"Category {body.code} already exists"):
        async with session.begin_nested():
            return await CatalogRepository(session).insert_category(body.model_dump())


async def category(session: AsyncSession, code: str) -> RowMapping:
    row = await CatalogRepository(session).category(code)
    if row is None:
        raise NotFound(f"No category {code}.")
    return row


async def create_item(session: AsyncSession, identity: Identity, body: RateItemIn) -> RowMapping:
    access.require(identity, access.ADMIN)
    repo = CatalogRepository(session)
    if await repo.category(body.category_code) is None:
        raise invalid("category_code", "unknown category")
    with unique_as_conflict(f"Rate item {body.code} already exists"):
        async with session.begin_nested():
            return await repo.insert_item(body.model_dump())


def _rate_rows(rows: list[RowMapping]) -> list[RateRow]:
    return [RateRow(r["id"], r["area_code"], r["valid_from"], r["valid_to"], r["amount_minor"]) for r in rows]


async def add_rate(session: AsyncSession, identity: Identity, body: RateIn) -> RowMapping:
    """A new government rate for an item in an area from a date.  Periods of one item and area may
    not overlap, except that an open-ended earlier rate is ended the day the new one starts.
    Bookings keep the rate they were confirmed at (``booking.job_rate_id``, ``price_minor``)."""
    access.require(identity, access.ADMIN)
    require_area(identity, body.area_code)
    repo = CatalogRepository(session)
    if await repo.item(body.item_code) is None:
        raise invalid("item_code", "unknown rate item")
    await repo.lock_item_rates(body.item_code, body.area_code)
    for existing in await repo.rates_for(body.item_code, [body.area_code]):
        if existing["valid_to"] is None and existing["valid_from"] < body.valid_from:
            continue  # ended below, where the new period starts
        if periods_overlap(existing["valid_from"], existing["valid_to"], body.valid_from, body.valid_to):
            raise Conflict(f"A rate for {body.item_code} in {body.area_code} already covers part of this period "
                           f"({existing['valid_from']} to {existing['valid_to'] or 'open'})",
                           rate_id=str(existing["id"]))
    await repo.close_open_rate(body.item_code, body.area_code, body.valid_from)
    return await repo.insert_rate({**body.model_dump(), "created_by": identity.subject})


async def price(session: AsyncSession, item_code: str, area_code: str, on: date, field: str) -> tuple[RowMapping,
                                                                                                       RateRow]:
    """The item and the rate that applies to it in ``area_code`` on ``on``; 422 naming ``field`` if none."""
    repo = CatalogRepository(session)
    item = await repo.item(item_code)
    if item is None:
        raise invalid(field, "unknown rate item")
    areas = sorted(ancestor_codes([area_code]) | {area_code})
    chosen = pick_rate(_rate_rows(await repo.rates_for(item_code, areas)), area_code, on)
    if chosen is None:
        raise invalid(field, f"no government rate for {item_code} in {area_code} on {on}")
    return item, chosen


def _json(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str) else raw


def _json_rates(raw: Any) -> list[RateRow]:
    return [RateRow(uuid.UUID(str(i)), a, date.fromisoformat(f), date.fromisoformat(t) if t else None, int(m))
            for i, a, f, t, m in _json(raw) or []]


async def quote(session: AsyncSession, job_code: str, area_code: str, on: date) -> Quote:
    """The job's price, its category's visit charge and cancellation terms in ``area_code`` on ``on``
    (one round trip; the booking keeps what this returns)."""
    return (await _quote_rows(session, job_code, area_code, cached=False))[1].priced(area_code, on)


class _QuoteRows:
    """What a quote is computed from (every period of the rates), so one read serves any date."""

    def __init__(self, job_code: str, row: Mapping[Any, Any]) -> None:
        self.job_code = job_code
        self.row = dict(row)
        self.rates = _json_rates(row["rates"])
        self.visit = _json(row["visit"]) if row["visit"] is not None else None
        self.visit_rates = _json_rates(self.visit[4]) if self.visit is not None else []
        self.terms = terms_snapshot(_json(row["terms"]))

    def priced(self, area_code: str, on: date) -> Quote:
        row = self.row
        if row["kind"] != "job":
            raise invalid("job_code", f"{self.job_code} is a {row['kind']} item, not a bookable job")
        job_rate = pick_rate(self.rates, area_code, on)
        if job_rate is None:
            raise invalid("job_code", f"no government rate for {self.job_code} in {area_code} on {on}")
        visit_line = None
        if self.visit is not None:
            code, category_code, kind, name, _ = self.visit
            visit_rate = pick_rate(self.visit_rates, area_code, on)
            if visit_rate is None:
                raise invalid("job_code", f"no government rate for {code} in {area_code} on {on}")
            visit_line = _line({"code": code, "category_code": category_code, "kind": kind, "name": name}, visit_rate)
        return Quote(category_code=row["category_code"], job=_line(row, job_rate), visit_charge=visit_line,
                     priced_on=on, terms=TermsIn(**self.terms))


# (job code, area) -> (rate card version, rows).  Rates change a few times a year; a booking reads them
# on every request.  Kept per process and checked by the booking's insert against the version in the
# database (repository/bookings.py: no row back means the card changed; the caller forgets and re-reads).
_QUOTES: dict[tuple[str, str], tuple[str, _QuoteRows]] = {}
_QUOTES_MAX = 4096


async def _quote_rows(session: Tx, job_code: str, area_code: str, *,
                      cached: bool) -> tuple[str, _QuoteRows]:
    found = _QUOTES.get((job_code, area_code)) if cached else None
    if found is not None:
        return found
    areas = sorted(ancestor_codes([area_code]) | {area_code})
    row = await quote_rows(session, job_code, areas)
    if row is None:
        raise invalid("job_code", "unknown rate item")
    found = (row["catalog_version"], _QuoteRows(job_code, row))
    if len(_QUOTES) >= _QUOTES_MAX:
        _QUOTES.clear()
    _QUOTES[(job_code, area_code)] = found
    return found


async def booking_quote(session: Tx, job_code: str, area_code: str, on: date, *,
                        fresh: bool = False) -> tuple[Quote, str]:
    """The quote for a booking and the rate card version it was computed at, from this process's cache
    unless ``fresh`` (the booking's insert found the card changed)."""
    version, rows = await _quote_rows(session, job_code, area_code, cached=not fresh)
    return rows.priced(area_code, on), version


def _line(item: Mapping[Any, Any], chosen: RateRow) -> QuoteLine:
    return QuoteLine(item_code=item["code"], title=item["name"], kind=item["kind"], rate_id=chosen.id,
                     area_code=chosen.area_code, amount_minor=chosen.amount_minor,
                     currency=currency_of(chosen.area_code))


def rate_out(row: RowMapping) -> RateOut:
    return RateOut.model_validate({**row, "currency": currency_of(row["area_code"])})


async def set_terms(session: AsyncSession, identity: Identity, category_code: str, body: TermsIn) -> RowMapping:
    access.require(identity, access.ADMIN)
    await category(session, category_code)
    return await CatalogRepository(session).upsert_terms({"category_code": category_code, **body.model_dump()})


async def terms(session: AsyncSession, category_code: str) -> dict[str, Any]:
    await category(session, category_code)
    return terms_snapshot(await CatalogRepository(session).terms(category_code))


async def create_department(session: AsyncSession, identity: Identity, body: DepartmentIn) -> RowMapping:
    access.require(identity, access.ADMIN)
    require_area(identity, body.area_code)
    with unique_as_conflict(f"Department {body.code} already exists"):
        async with session.begin_nested():
            return await CatalogRepository(session).insert_department(body.model_dump())


async def create_office(session: AsyncSession, identity: Identity, department_code: str, body: OfficeIn) -> RowMapping:
    access.require(identity, access.ADMIN)
    require_area(identity, body.area_code)
    if await CatalogRepository(session).department(department_code) is None:
        raise NotFound(f"No department {department_code}.")
    with unique_as_conflict(f"Office {body.code} already exists"):
        async with session.begin_nested():
            return await CatalogRepository(session).insert_office({**body.model_dump(),
                                                                   "department_code": department_code})
