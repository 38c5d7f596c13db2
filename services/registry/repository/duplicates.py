"""Possible-duplicate queue SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within, within_any
from services.registry.models import duplicate_candidate
from services.registry.repository.common import all_rows, one_or_none, page


class DuplicateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def visible(scopes: Sequence[str]) -> Select[Any]:
        return select(duplicate_candidate).where(within_any(duplicate_candidate.c.area_code, list(scopes)))

    async def flag(self, values: dict[str, Any]) -> bool:
        """Queue a pair once per reason, never again once a reviewer dismissed it; True if it is new."""
        if await self.dismissed(values["person_a"], values["person_b"]):
            return False
        return await self.insert(values) is not None

    async def insert(self, values: dict[str, Any]) -> uuid.UUID | None:
        """The new entry's id, or None when the pair is already queued under this reason."""
        stmt = insert(duplicate_candidate).values(**values).on_conflict_do_nothing().returning(duplicate_candidate.c.id)
        found: uuid.UUID | None = await self.session.scalar(stmt)
        return found

    async def dismissed(self, person_a: uuid.UUID, person_b: uuid.UUID) -> bool:
        return await self.known(person_a, person_b, status="dismissed")

    async def known(self, person_a: uuid.UUID, person_b: uuid.UUID, *, status: str | None = None) -> bool:
        """Whether the ordered pair is in the queue already (under any reason; in ``status`` if given)."""
        stmt = select(duplicate_candidate.c.id).where(
            duplicate_candidate.c.person_a == person_a, duplicate_candidate.c.person_b == person_b
        )
        if status is not None:
            stmt = stmt.where(duplicate_candidate.c.status == status)
        return (await self.session.scalar(stmt.limit(1))) is not None

    async def get(self, candidate_id: uuid.UUID, scopes: Sequence[str], *, lock: bool = False) -> RowMapping | None:
        stmt = self.visible(scopes).where(duplicate_candidate.c.id == candidate_id)
        return await one_or_none(self.session, stmt.with_for_update() if lock else stmt)

    async def list_page(
        self, scopes: Sequence[str], *, area: str | None, status: str, limit: int, offset: int
    ) -> tuple[list[RowMapping], int]:
        stmt = self.visible(scopes).where(duplicate_candidate.c.status == status)
        if area is not None:
            stmt = stmt.where(within(duplicate_candidate.c.area_code, area))
        order = (duplicate_candidate.c.created_at, duplicate_candidate.c.id)  # one import flags many at once
        return await page(self.session, stmt.order_by(*order), limit=limit, offset=offset)

    async def decide(self, candidate_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = (
            update(duplicate_candidate)
            .where(duplicate_candidate.c.id == candidate_id)
            .values(**values, decided_at=func.now())
            .returning(duplicate_candidate)
        )
        row = await one_or_none(self.session, stmt)
        assert row is not None
        return row

    async def open_for(self, person_id: uuid.UUID) -> list[RowMapping]:
        stmt = select(duplicate_candidate).where(
            duplicate_candidate.c.status == "open",
            or_(duplicate_candidate.c.person_a == person_id, duplicate_candidate.c.person_b == person_id),
        )
        return list(await all_rows(self.session, stmt))

    async def close_involving(self, person_id: uuid.UUID, note: str, actor: str) -> None:
        """Other open pairs of a merged-away person are moot: close them, pointing at the merge."""
        await self.session.execute(
            update(duplicate_candidate)
            .where(
                duplicate_candidate.c.status == "open",
                or_(duplicate_candidate.c.person_a == person_id, duplicate_candidate.c.person_b == person_id),
            )
            .values(status="dismissed", decision_note=note, decided_by=actor, decided_at=func.now())
        )
