"""Revision round SQL: set-based carry-forward, item work queues, coverage counts and diffs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import ancestor_codes, within, within_any
from services.registry.models import change_history, household, membership, person
from services.registry.models.rounds import revision_round, round_item
from services.registry.repository.common import all_rows, one_or_none, page


class RoundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def visible(scopes: Sequence[str]) -> Select[Any]:
        """Rounds overlapping the caller's scope: a ward volunteer sees the union's round to work
        the ward's items; a block officer sees the rounds of every ward below."""
        return select(revision_round).where(
            or_(
                within_any(revision_round.c.area_code, list(scopes)),
                revision_round.c.area_code.in_(ancestor_codes(list(scopes))),
            )
        )

    async def lock_year(self, year: int) -> None:
        # Serialise round openings of one year, so two overlapping rounds cannot both pass the check.
        await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"round:{year}"})

    async def get(
        self, round_id: uuid.UUID, scopes: Sequence[str], *, lock: str | None = None
    ) -> RowMapping | None:
        stmt = self.visible(scopes).where(revision_round.c.id == round_id)
        if lock == "update":
            stmt = stmt.with_for_update()
        elif lock == "share":
            stmt = stmt.with_for_update(read=True)
        return await one_or_none(self.session, stmt)

    async def overlapping(self, area: str, year: int) -> RowMapping | None:
        """A round of ``year`` that is open over an overlapping area, or held for exactly ``area``."""
        overlap = or_(
            revision_round.c.area_code.in_([*ancestor_codes([area]), area]),
            within(revision_round.c.area_code, area),
        )
        stmt = (
            select(revision_round)
            .where(
                revision_round.c.year == year,
                or_(and_(overlap, revision_round.c.status == "open"), revision_round.c.area_code == area),
            )
            .order_by(revision_round.c.opened_at)
            .limit(1)
        )
        return await one_or_none(self.session, stmt)

    async def insert(self, values: dict[str, Any]) -> RowMapping:
        row = await one_or_none(self.session, insert(revision_round).values(**values).returning(revision_round))
        assert row is not None
        return row

    async def update(self, round_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = update(revision_round).where(revision_round.c.id == round_id).values(**values).returning(revision_round)
        row = await one_or_none(self.session, stmt)
        assert row is not None
        return row

    async def list_page(
        self, scopes: Sequence[str], *, area: str | None, year: int | None, status: str | None, limit: int, offset: int
    ) -> tuple[list[RowMapping], int]:
        stmt = self.visible(scopes)
        if area is not None:
            stmt = stmt.where(within(revision_round.c.area_code, area))
        if year is not None:
            stmt = stmt.where(revision_round.c.year == year)
        if status is not None:
            stmt = stmt.where(revision_round.c.status == status)
        order = (revision_round.c.year.desc(), revision_round.c.area_code, revision_round.c.id)
        return await page(self.session, stmt.order_by(*order), limit=limit, offset=offset)

    async def previous_closed(self, area: str, year: int) -> RowMapping | None:
        stmt = (
            select(revision_round)
            .where(
                revision_round.c.area_code == area, revision_round.c.year < year, revision_round.c.status == "closed"
            )
            .order_by(revision_round.c.year.desc())
            .limit(1)
        )
        return await one_or_none(self.session, stmt)


def _live_members() -> Any:
    return (
        select(func.count())
        .where(membership.c.household_id == household.c.id, membership.c.ended_on.is_(None))
        .scalar_subquery()
    )


class RoundItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def carry_forward(self, round_id: uuid.UUID, area: str) -> int:
        """One pending item per active household of the area, in one INSERT … SELECT."""
        source = select(
            literal(round_id), household.c.id, household.c.area_code, _live_members()
        ).where(household.c.status == "active", within(household.c.area_code, area))
        stmt = insert(round_item).from_select(["round_id", "household_id", "area_code", "member_count"], source)
        result = await self.session.execute(stmt)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def sweep_found(self, round_id: uuid.UUID, area: str, actor: str) -> int:
        """Households registered in the area during the round join it as found (already surveyed)."""
        already = exists().where(round_item.c.round_id == round_id, round_item.c.household_id == household.c.id)
        source = select(
            literal(round_id), household.c.id, household.c.area_code, _live_members(),
            literal("found"), literal("confirmed"), literal(actor), func.now(),
        ).where(household.c.status == "active", within(household.c.area_code, area), ~already)
        columns = ["round_id", "household_id", "area_code", "member_count", "origin", "status", "decided_by",
                   "decided_at"]
        result = await self.session.execute(insert(round_item).from_select(columns, source))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def mark_unreached(self, round_id: uuid.UUID, reason: str, actor: str) -> int:
        stmt = (
            update(round_item)
            .where(round_item.c.round_id == round_id, round_item.c.status == "pending")
            .values(status="unreached", reason=reason, decided_by=actor, decided_at=func.now(),
                    version=round_item.c.version + 1)
        )
        result = await self.session.execute(stmt)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    @staticmethod
    def visible(round_id: uuid.UUID, scopes: Sequence[str]) -> Select[Any]:
        return (
            select(round_item, household.c.address, household.c.status.label("household_status"))
            .join(household, household.c.id == round_item.c.household_id)
            .where(round_item.c.round_id == round_id, within_any(round_item.c.area_code, list(scopes)))
        )

    async def get(
        self, round_id: uuid.UUID, item_id: uuid.UUID, scopes: Sequence[str], *, lock: bool = False
    ) -> RowMapping | None:
        stmt = self.visible(round_id, scopes).where(round_item.c.id == item_id)
        return await one_or_none(self.session, stmt.with_for_update(of=round_item) if lock else stmt)

    async def list_page(
        self, round_id: uuid.UUID, scopes: Sequence[str], *, area: str | None, status: str | None,
        limit: int, offset: int,
    ) -> tuple[list[RowMapping], int]:
        stmt = self.visible(round_id, scopes)
        if area is not None:
            stmt = stmt.where(within(round_item.c.area_code, area))
        if status is not None:
            stmt = stmt.where(round_item.c.status == status)
        order = (round_item.c.area_code, household.c.address, round_item.c.id)
        return await page(self.session, stmt.order_by(*order), limit=limit, offset=offset)

    async def update(self, item_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.session.execute(update(round_item).where(round_item.c.id == item_id).values(**values))

    async def counts(self, round_id: uuid.UUID, area: str, scopes: Sequence[str]) -> list[RowMapping]:
        """Items by (area, origin, status, outcome) inside ``area`` and the caller's scope."""
        cols = (round_item.c.area_code, round_item.c.origin, round_item.c.status, round_item.c.close_outcome)
        stmt = (
            select(*cols, func.count().label("n"))
            .where(
                round_item.c.round_id == round_id,
                within(round_item.c.area_code, area),
                within_any(round_item.c.area_code, list(scopes)),
            )
            .group_by(*cols)
        )
        return list(await all_rows(self.session, stmt))

    async def closures_to_apply(self, round_id: uuid.UUID) -> list[RowMapping]:
        stmt = (
            select(round_item)
            .where(
                round_item.c.round_id == round_id, round_item.c.status == "closed", round_item.c.applied_at.is_(None)
            )
            .order_by(round_item.c.area_code, round_item.c.id)
        )
        return list(await all_rows(self.session, stmt))

    async def households_added(self, round_id: uuid.UUID, previous_id: uuid.UUID, area: str, *, live: bool) -> int:
        """Households of this round (still there) that were not there after the previous round; for an
        open round, households registered since it opened count too."""
        kept: Any = select(round_item.c.household_id.label("hid")).where(
            round_item.c.round_id == round_id, round_item.c.status != "closed"
        )
        if live:
            carried = exists().where(round_item.c.round_id == round_id, round_item.c.household_id == household.c.id)
            kept = kept.union(
                select(household.c.id.label("hid")).where(
                    household.c.status == "active", within(household.c.area_code, area), ~carried
                )
            )
        current = kept.subquery()
        before = exists().where(
            round_item.c.round_id == previous_id,
            round_item.c.household_id == current.c.hid,
            round_item.c.status != "closed",
        )
        return int(await self.session.scalar(select(func.count()).select_from(current).where(~before)) or 0)


class RoundPersonRepository:
    """Person changes in an area between two moments (the previous round's close and now)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def added(self, area: str, since: datetime, until: datetime | None) -> int:
        stmt = select(func.count()).where(
            within(person.c.area_code, area), person.c.status != "merged", person.c.created_at > since
        )
        if until is not None:
            stmt = stmt.where(person.c.created_at <= until)
        return int(await self.session.scalar(stmt) or 0)

    async def deceased(self, area: str, since: datetime, until: datetime | None) -> int:
        """Deaths recorded in the window (by when they were recorded, not the date of death)."""
        recorded = and_(
            change_history.c.record_id == person.c.id,
            change_history.c.record_type == "person",
            change_history.c.action == "deceased",
            change_history.c.changed_at > since,
        )
        if until is not None:
            recorded = and_(recorded, change_history.c.changed_at <= until)
        stmt = select(func.count()).where(
            within(person.c.area_code, area), person.c.status == "deceased", exists().where(recorded)
        )
        return int(await self.session.scalar(stmt) or 0)
