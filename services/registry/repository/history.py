"""Change history and read-audit SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.models import KERNEL, change_history
from services.registry.repository.common import all_rows

audit_event = KERNEL["audit_event"]


class HistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(change_history), list(rows))

    async def for_records(self, record_ids: Sequence[uuid.UUID], *, limit: int) -> list[RowMapping]:
        stmt = (
            select(change_history)
            .where(change_history.c.record_id.in_(record_ids))
            .order_by(change_history.c.id.desc())
            .limit(limit)
        )
        return list(await all_rows(self.session, stmt))


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(audit_event), list(rows))
