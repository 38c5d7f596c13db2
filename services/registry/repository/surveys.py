"""Offline sync batch SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.models import sync_batch
from services.registry.repository.common import one_or_none


class SyncBatchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, device_id: str, batch_id: str) -> RowMapping | None:
        stmt = select(sync_batch).where(sync_batch.c.device_id == device_id, sync_batch.c.batch_id == batch_id)
        return await one_or_none(self.session, stmt)

    async def lock_key(self, device_id: str, batch_id: str) -> None:
        """Serialise two concurrent sends of one batch (the second then sees the stored result)."""
        from sqlalchemy import func

        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"sync:{device_id}:{batch_id}"))))

    async def store(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(sync_batch).values(**values).on_conflict_do_nothing())
