"""Flags: the review queue of double-dipping and unknown-person cases."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from services.benefits.models import entry, entry_match, flag
from services.benefits.repository.common import all_rows, one_or_none, page


class FlagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(flag), list(rows))

    async def flag_for_update(self, flag_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(flag).where(flag.c.id == flag_id).with_for_update())

    async def get(self, flag_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(flag).where(flag.c.id == flag_id))

    async def decide(self, flag_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = update(flag).where(flag.c.id == flag_id).values(**values, decided_at=func.now()).returning(flag)
        return (await self.session.execute(stmt)).mappings().one()

    async def listing(self, *, scopes: Sequence[str], status: str | None, scheme_code: str | None,
                      limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(flag).where(within_any(flag.c.area_code, list(scopes)))
        if status:
            stmt = stmt.where(flag.c.status == status)
        if scheme_code:
            stmt = stmt.where(flag.c.scheme_code == scheme_code)
        return await page(self.session, stmt.order_by(flag.c.raised_at, flag.c.id), limit=limit, offset=offset)

    async def existing(self, entry_ids: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, str]]:
        if not entry_ids:
            return set()
        rows = (await self.session.execute(select(flag.c.entry_id, flag.c.rule)
                                           .where(flag.c.entry_id.in_(list(entry_ids))))).all()
        return {(r[0], r[1]) for r in rows}

    async def open_count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(flag).where(flag.c.status == "open"))
                   or 0)

    async def for_entries(self, entry_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        if not entry_ids:
            return []
        return list(await all_rows(self.session, select(flag).where(flag.c.entry_id.in_(list(entry_ids)))
                                   .order_by(flag.c.raised_at, flag.c.id)))

    async def open_unknown_for(self, person_id: uuid.UUID, hashes: Sequence[str]) -> list[RowMapping]:
        """Open unknown-person flags whose entry named this person's id, or one of its identifiers'
        hashes, and has not been matched yet."""
        named = [entry.c.person_id == person_id]
        if hashes:
            named.append(and_(entry.c.person_id.is_(None), entry.c.identifier_hash.in_(list(hashes))))
        stmt = (select(flag.c.id, flag.c.entry_id, flag.c.area_code, entry.c.person_id.label("posted_person_id"))
                .join(entry, entry.c.id == flag.c.entry_id)
                .where(flag.c.status == "open", flag.c.kind == "unknown_person", or_(*named))
                .where(~select(entry_match.c.entry_id).where(entry_match.c.entry_id == flag.c.entry_id).exists())
                .order_by(flag.c.raised_at, flag.c.id))
        return list(await all_rows(self.session, stmt))

    async def add_matches(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(pg_insert(entry_match).on_conflict_do_nothing(), list(rows))

    async def settle(self, flag_ids: Sequence[uuid.UUID], values: dict[str, Any]) -> None:
        if flag_ids:
            await self.session.execute(update(flag).where(flag.c.id.in_(list(flag_ids)), flag.c.status == "open")
                                       .values(**values))
