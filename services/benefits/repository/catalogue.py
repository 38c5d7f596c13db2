"""Departments, schemes and their rule versions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, any_, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.models import department, department_poster, rule_version, scheme
from services.benefits.repository.common import all_rows, array_param, one_or_none, page


def _with_rules() -> Any:
    """Schemes with their current rules and ``excluded_by``: the schemes whose current rules say
    "not together with" this one (one round trip for the whole catalogue lookup)."""
    other, other_rules = scheme.alias("other"), rule_version.alias("other_rules")
    excluded_by = (select(func.array_agg(other.c.code))
                   .select_from(other.join(other_rules, and_(other_rules.c.scheme_code == other.c.code,
                                                             other_rules.c.version == other.c.current_version)))
                   .where(other_rules.c.exclusivity["not_with"].contains(func.jsonb_build_array(scheme.c.code)))
                   .scalar_subquery())
    return select(scheme, rule_version.c.eligibility, rule_version.c.exclusivity, rule_version.c.policy,
                  excluded_by.label("excluded_by")).join(
        rule_version, and_(rule_version.c.scheme_code == scheme.c.code,
                           rule_version.c.version == scheme.c.current_version))


# Built once (the posting path's lookups; see common.array_param).
WITH_RULES = _with_rules()
# The schemes named, each saying whether the caller (``actors``) is one of its department's posters.
_CALLER_POSTS = select(department_poster.c.actor).where(
    department_poster.c.department_code == scheme.c.department_code,
    department_poster.c.actor == any_(array_param("actors", department_poster.c.actor))).exists().label("caller_posts")
_BY_CODES = scheme.c.code == any_(array_param("codes", scheme.c.code))
SCHEMES_BY_CODE = WITH_RULES.add_columns(_CALLER_POSTS).where(_BY_CODES)
POSTED_FOR = select(department_poster.c.department_code).where(
    department_poster.c.actor == any_(array_param("actors", department_poster.c.actor)))


class CatalogueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert_department(self, values: dict[str, Any]) -> tuple[RowMapping, bool]:
        stmt = pg_insert(department).values(**values).on_conflict_do_nothing(index_elements=["code"])
        created = (await self.session.execute(stmt.returning(department))).mappings().first()
        if created is not None:
            return created, True
        found = await self.department(values["code"])
        assert found is not None
        return found, False

    async def department(self, code: str) -> RowMapping | None:
        return await one_or_none(self.session, select(department).where(department.c.code == code))

    async def departments(self, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        return await page(self.session, select(department).order_by(department.c.code), limit=limit, offset=offset)

    async def departments_posted_for(self, actors: Sequence[str]) -> set[str]:
        return {r[0] for r in (await self.session.execute(POSTED_FOR, {"actors": list(actors)})).all()}

    async def set_posters(self, code: str, actors: Sequence[str], added_by: str) -> list[str]:
        await self.session.execute(department_poster.delete().where(department_poster.c.department_code == code))
        if actors:
            await self.session.execute(insert(department_poster), [
                {"department_code": code, "actor": a, "added_by": added_by} for a in sorted(set(actors))])
        return await self.posters(code)

    async def posters(self, code: str) -> list[str]:
        stmt = (select(department_poster.c.actor).where(department_poster.c.department_code == code)
                .order_by(department_poster.c.actor))
        return [r[0] for r in (await self.session.execute(stmt)).all()]

    async def add_scheme(self, values: dict[str, Any]) -> RowMapping | None:
        stmt = pg_insert(scheme).values(**values).on_conflict_do_nothing(index_elements=["code"]).returning(scheme)
        return (await self.session.execute(stmt)).mappings().first()

    async def add_rule_version(self, values: dict[str, Any]) -> RowMapping:
        row = (await self.session.execute(insert(rule_version).values(**values).returning(rule_version))).mappings()
        return row.one()

    async def set_current_version(self, code: str, version: int) -> None:
        await self.session.execute(update(scheme).where(scheme.c.code == code).values(current_version=version))

    async def lock_scheme(self, code: str) -> RowMapping | None:
        return await one_or_none(self.session, select(scheme).where(scheme.c.code == code).with_for_update())

    def _with_rules(self) -> Any:
        return WITH_RULES

    async def schemes_with_rules(self, codes: Sequence[str], actors: Sequence[str] = ()) -> dict[str, RowMapping]:
        """The schemes named, each with its current rule version's rules and ``caller_posts``: whether one
        of ``actors`` posts for its department (one round trip for the posting path)."""
        rows = (await self.session.execute(SCHEMES_BY_CODE, {"codes": list(codes), "actors": list(actors)})
                ).mappings().all()
        return {r["code"]: r for r in rows}

    async def scheme(self, code: str) -> RowMapping | None:
        return await one_or_none(self.session, self._with_rules().where(scheme.c.code == code))

    async def schemes(self, *, department_code: str | None, area: str | None, on: date | None,
                      limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = self._with_rules()
        if department_code:
            stmt = stmt.where(scheme.c.department_code == department_code)
        if area:
            stmt = stmt.where(runs_in(area))
        if on:
            stmt = stmt.where(scheme.c.valid_from <= on, or_(scheme.c.valid_to.is_(None), scheme.c.valid_to >= on))
        return await page(self.session, stmt.order_by(scheme.c.code), limit=limit, offset=offset)

    async def running_in(self, area: str, on: date) -> list[RowMapping]:
        """Schemes whose areas contain ``area`` and that are valid on ``on``."""
        stmt = self._with_rules().where(
            runs_in(area), scheme.c.valid_from <= on, or_(scheme.c.valid_to.is_(None), scheme.c.valid_to >= on)
        ).order_by(scheme.c.code)
        return list(await all_rows(self.session, stmt))

    async def rule_versions(self, code: str) -> list[RowMapping]:
        stmt = select(rule_version).where(rule_version.c.scheme_code == code).order_by(rule_version.c.version)
        return list(await all_rows(self.session, stmt))

    async def rule_version(self, code: str, version: int) -> RowMapping | None:
        return await one_or_none(self.session, select(rule_version).where(
            rule_version.c.scheme_code == code, rule_version.c.version == version))

    async def rule_versions_for(self, pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], RowMapping]:
        if not pairs:
            return {}
        stmt = select(rule_version).where(tuple_(rule_version.c.scheme_code, rule_version.c.version).in_(list(pairs)))
        return {(r["scheme_code"], r["version"]): r for r in await all_rows(self.session, stmt)}


def runs_in(area: str) -> Any:
    """The scheme runs in ``area``: one of its area codes is ``area`` or an ancestor of it."""
    parts = area.split("-")
    ancestors = ["-".join(parts[: i + 1]) for i in range(len(parts))]
    return scheme.c.area_codes.overlap(ancestors)
