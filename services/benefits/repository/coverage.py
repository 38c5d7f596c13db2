"""Eligibility in SQL (the same rule tree as rules/eligibility.py) and coverage over an area.

Three-valued logic carries over as it is: a comparison with a NULL fact is NULL, and AND/OR treat
NULL as "unknown" exactly as ``rules.eligibility._evaluate`` does, so "eligible" is ``IS TRUE`` in
both places (``tests/benefits/test_eligibility_sql.py`` compares them on random rules and persons).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import and_, case, false, func, literal, or_, select, true
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from kernel.areas import within, within_any
from kernel.paging import paged
from services.benefits.models import entry, entry_match, household, person
from services.benefits.repository.common import all_rows, held_for
from services.benefits.rules.eligibility import Condition, Group


def _column(attr: str, on: date) -> Any:
    match attr:
        case "age":
            return case((person.c.birth_date.is_not(None), func.date_part("year", func.age(literal(on),
                                                                                          person.c.birth_date))),
                        else_=literal(on.year) - person.c.birth_year)
        case "sex":
            return person.c.sex
        case "disabled":
            return and_(person.c.disability.is_not(None), person.c.disability != "")
        case "disability":
            return person.c.disability
        case "pregnant":
            return person.c.pregnant
        case "marital_status":
            return person.c.marital_status
        case "household_size":
            return household.c.member_count
        case "income_band":
            return household.c.income_band
    raise ValueError(attr)


def _condition(node: Condition, on: date) -> ColumnElement[bool]:
    if node.attr == "area":
        return or_(*[within(person.c.area_code, code) for code in node.value])  # type: ignore[union-attr]
    col, value = _column(node.attr, on), node.value
    match node.op:
        case "eq":
            return col == value  # type: ignore[no-any-return]
        case "ne":
            return col != value  # type: ignore[no-any-return]
        case "lt":
            return col < value  # type: ignore[no-any-return]
        case "le":
            return col <= value  # type: ignore[no-any-return]
        case "gt":
            return col > value  # type: ignore[no-any-return]
        case "ge":
            return col >= value  # type: ignore[no-any-return]
        case "in":
            return col.in_(value)  # type: ignore[no-any-return]
        case "not_in":
            return col.not_in(value)  # type: ignore[no-any-return]
    raise ValueError(node.op)


def compile_rule(rule: Group, on: date) -> ColumnElement[bool]:
    parts = [compile_rule(c, on) if isinstance(c, Group) else _condition(c, on) for c in rule.children]
    if rule.all is not None:
        return and_(true(), *parts) if parts else true()
    return or_(false(), *parts) if parts else false()


class CoverageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _population(self, *, area: str, scopes: list[str], scheme_areas: list[str], rule: Group, on: date,
                    scheme_code: str, start: date, end: date, beneficiary: str) -> Any:
        undone = entry.alias("undone")
        live = and_(entry.c.scheme_code == scheme_code, entry.c.kind == "grant", entry.c.period_start <= end,
                    entry.c.period_end >= start,
                    ~select(undone.c.id).where(undone.c.reverses_id == entry.c.id).exists())
        if beneficiary == "household":
            covered_ids = select(entry.c.household_id.label("unit")).where(live, entry.c.household_id.is_not(None))
            unit = person.c.household_id
            heads_only = household.c.head_person_id == person.c.id
        else:
            holder = person.alias("holder")  # as posted, or matched to the person later (entry_match)
            covered_ids = (select(holder.c.cluster_id.label("unit"))
                           .select_from(entry.outerjoin(entry_match, entry_match.c.entry_id == entry.c.id)
                                        .join(holder, holder.c.id == func.coalesce(entry.c.person_id,
                                                                                   entry_match.c.person_id)))
                           .where(live))
            unit = person.c.cluster_id
            heads_only = true()
        covered = covered_ids.distinct().cte("covered")
        eligible = compile_rule(rule, on).is_(True)
        return (
            select(person.c.id, person.c.full_name, person.c.area_code, person.c.household_id, person.c.sex,
                   person.c.birth_year, eligible.label("eligible"), covered.c.unit.is_not(None).label("covered"))
            .select_from(person.outerjoin(household, household.c.id == person.c.household_id)
                         .outerjoin(covered, covered.c.unit == unit))
            .where(within(person.c.area_code, area), within_any(person.c.area_code, scopes),
                   within_any(person.c.area_code, scheme_areas), person.c.status == "active", person.c.version > 0,
                   heads_only)
        )

    async def counts(self, **kwargs: Any) -> RowMapping:
        pop = self._population(**kwargs).subquery()
        stmt = select(
            func.count().label("persons"),
            func.count().filter(pop.c.eligible).label("eligible"),
            func.count().filter(and_(pop.c.eligible, pop.c.covered)).label("eligible_covered"),
            func.count().filter(and_(pop.c.eligible, ~pop.c.covered)).label("eligible_not_covered"),
            func.count().filter(and_(~pop.c.eligible, pop.c.covered)).label("covered_not_eligible"),
        )
        return (await self.session.execute(stmt)).mappings().one()

    async def gaps(self, *, limit: int, offset: int, **kwargs: Any) -> tuple[list[RowMapping], int]:
        pop = self._population(**kwargs).subquery()
        where = and_(pop.c.eligible, ~pop.c.covered)
        total = await self.session.scalar(select(func.count()).select_from(pop).where(where))
        rows = await all_rows(self.session, paged(select(pop).where(where).order_by(pop.c.area_code, pop.c.id),
                                                  limit=limit, offset=offset))
        return list(rows), int(total or 0)

    async def covered_schemes(self, cluster_members: list[uuid.UUID], household_id: uuid.UUID | None,
                              start_end: dict[str, tuple[date, date]]) -> dict[str, list[RowMapping]]:
        """Live grants per scheme to these records (or the household) overlapping each scheme's period."""
        if not start_end:
            return {}
        undone = entry.alias("undone")
        subject: list[ColumnElement[bool]] = [held_for(cluster_members)] if cluster_members else []
        if household_id is not None:
            subject.append(entry.c.household_id == household_id)
        if not subject:
            return {}
        spans = [and_(entry.c.scheme_code == code, entry.c.period_start <= end, entry.c.period_end >= start)
                 for code, (start, end) in start_end.items()]
        stmt = (select(entry).where(entry.c.kind == "grant", or_(*subject), or_(*spans))
                .where(~select(undone.c.id).where(undone.c.reverses_id == entry.c.id).exists())
                .order_by(entry.c.recorded_at, entry.c.id))
        out: dict[str, list[RowMapping]] = {}
        for row in await all_rows(self.session, stmt):
            out.setdefault(row["scheme_code"], []).append(row)
        return out
