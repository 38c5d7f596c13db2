"""Household and membership SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within, within_any
from services.registry.models import household, membership, person
from services.registry.repository.common import all_rows, one_or_none, page


class HouseholdRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def visible(scopes: Sequence[str]) -> Select[Any]:
        """Households inside the caller's area scope."""
        return select(household).where(within_any(household.c.area_code, list(scopes)))

    async def get(self, household_id: uuid.UUID, scopes: Sequence[str], *, lock: bool = False) -> RowMapping | None:
        stmt = self.visible(scopes).where(household.c.id == household_id)
        return await one_or_none(self.session, stmt.with_for_update() if lock else stmt)

    async def by_client_ref(self, client_ref: str, *, lock: bool = False) -> RowMapping | None:
        stmt = select(household).where(household.c.client_ref == client_ref)
        return await one_or_none(self.session, stmt.with_for_update() if lock else stmt)

    async def insert(self, values: dict[str, Any]) -> RowMapping:
        row = await one_or_none(self.session, insert(household).values(**values).returning(household))
        assert row is not None
        return row

    async def update(self, household_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = (
            update(household)
            .where(household.c.id == household_id)
            .values(**values, updated_at=func.now())
            .returning(household)
        )
        row = await one_or_none(self.session, stmt)
        assert row is not None
        return row

    async def list_page(
        self, scopes: Sequence[str], *, area: str | None, survey_status: str | None, limit: int, offset: int
    ) -> tuple[list[RowMapping], int]:
        members = (
            select(func.count())
            .where(membership.c.household_id == household.c.id, membership.c.ended_on.is_(None))
            .scalar_subquery()
            .label("member_count")
        )
        stmt = select(household, members).where(within_any(household.c.area_code, list(scopes)))
        if area is not None:
            stmt = stmt.where(within(household.c.area_code, area))
        if survey_status is not None:
            stmt = stmt.where(household.c.survey_status == survey_status)
        return await page(
            self.session, stmt.order_by(household.c.area_code, household.c.id), limit=limit, offset=offset
        )

    async def members(self, household_id: uuid.UUID) -> list[RowMapping]:
        stmt = (
            select(person, membership.c.role, membership.c.started_on, membership.c.household_id)
            .join(membership, membership.c.person_id == person.c.id)
            .where(membership.c.household_id == household_id, membership.c.ended_on.is_(None))
            .order_by(membership.c.role != "head", person.c.birth_date.nulls_last(), person.c.id)
        )
        return list(await all_rows(self.session, stmt))

    async def live_heads(self, household_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            membership.c.household_id == household_id, membership.c.role == "head", membership.c.ended_on.is_(None)
        )
        return int(await self.session.scalar(stmt) or 0)


class MembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, values: dict[str, Any]) -> RowMapping:
        row = await one_or_none(self.session, insert(membership).values(**values).returning(membership))
        assert row is not None
        return row

    async def live_for_person(self, person_id: uuid.UUID) -> RowMapping | None:
        stmt = select(membership).where(membership.c.person_id == person_id, membership.c.ended_on.is_(None))
        return await one_or_none(self.session, stmt)

    async def live_for_persons(self, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
        if not person_ids:
            return {}
        stmt = select(membership).where(membership.c.person_id.in_(person_ids), membership.c.ended_on.is_(None))
        return {row["person_id"]: row for row in await all_rows(self.session, stmt)}

    async def end(self, membership_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.session.execute(update(membership).where(membership.c.id == membership_id).values(**values))

    async def move_person(self, membership_id: uuid.UUID, person_id: uuid.UUID) -> None:
        await self.session.execute(
            update(membership).where(membership.c.id == membership_id).values(person_id=person_id)
        )
