"""Area-wide read SQL: priority lists and statistics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kernel.areas import within, within_any
from services.registry.models import household, identifier, membership, person
from services.registry.repository.common import all_rows


def _in_area(column: Any, area: str, scopes: Sequence[str]) -> Any:
    return and_(within(column, area), within_any(column, list(scopes)))


class QueryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def priority_candidates(
        self, area: str, scopes: Sequence[str], *, elderly_born_before: date, child_born_after: date, limit: int
    ) -> list[RowMapping]:
        """Active persons in ``area`` who are elderly, disabled, pregnant or under five, or head a
        household with no live spouse while being a woman (the single-woman-headed household)."""
        spouse = aliased(membership)
        single_woman_head = and_(
            membership.c.role == "head",
            person.c.sex == "female",
            ~exists().where(
                spouse.c.household_id == membership.c.household_id,
                spouse.c.role == "spouse",
                spouse.c.ended_on.is_(None),
            ),
        )
        stmt = (
            select(
                person.c.id,
                person.c.full_name,
                person.c.sex,
                person.c.birth_date,
                person.c.birth_date_estimated,
                person.c.disability,
                person.c.pregnant,
                person.c.phones,
                household.c.id.label("household_id"),
                household.c.address,
                single_woman_head.label("single_woman_head"),
            )
            .outerjoin(membership, and_(membership.c.person_id == person.c.id, membership.c.ended_on.is_(None)))
            .outerjoin(household, household.c.id == membership.c.household_id)
            .where(
                _in_area(person.c.area_code, area, scopes),
                person.c.status == "active",
                (person.c.birth_date <= elderly_born_before)
                | (person.c.birth_date > child_born_after)
                | person.c.disability.is_not(None)
                | person.c.pregnant
                | single_woman_head,
            )
            .order_by(person.c.area_code, household.c.id, person.c.birth_date)
            .limit(limit)
        )
        return list(await all_rows(self.session, stmt))

    async def population(
        self, area: str, scopes: Sequence[str], bands: Sequence[tuple[str, date, date]]
    ) -> list[RowMapping]:
        """Active persons by sex and age band (bands given as born-after/born-on-or-before dates)."""
        band = case(
            *[(and_(person.c.birth_date > lo, person.c.birth_date <= hi), name) for name, lo, hi in bands],
            else_="unknown",
        ).label("band")
        stmt = (
            select(person.c.sex, band, func.count().label("n"))
            .where(_in_area(person.c.area_code, area, scopes), person.c.status == "active")
            .group_by(person.c.sex, band)
        )
        return list(await all_rows(self.session, stmt))

    async def household_count(self, area: str, scopes: Sequence[str]) -> int:
        stmt = select(func.count()).where(_in_area(household.c.area_code, area, scopes), household.c.status == "active")
        return int(await self.session.scalar(stmt) or 0)

    async def identifier_coverage(self, area: str, scopes: Sequence[str]) -> dict[str, int]:
        stmt = (
            select(identifier.c.id_type, func.count(func.distinct(identifier.c.person_id)).label("n"))
            .join(person, person.c.id == identifier.c.person_id)
            .where(
                _in_area(person.c.area_code, area, scopes),
                person.c.status == "active",
                identifier.c.ended_at.is_(None),
            )
            .group_by(identifier.c.id_type)
        )
        return {row["id_type"]: int(row["n"]) for row in await all_rows(self.session, stmt)}
