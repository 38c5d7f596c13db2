"""Posting files: one row per file a department sent, with its per-row report."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.models import posting_file
from services.benefits.repository.common import one_or_none


class FileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, values: dict[str, Any]) -> tuple[RowMapping, bool]:
        """The file's row: (new row, True), or (the row of the same content posted before, False)."""
        stmt = pg_insert(posting_file).values(**values).on_conflict_do_nothing(
            index_elements=["department_code", "sha256"]).returning(posting_file)
        created = (await self.session.execute(stmt)).mappings().first()
        if created is not None:
            return created, True
        found = await one_or_none(self.session, select(posting_file).where(
            posting_file.c.department_code == values["department_code"], posting_file.c.sha256 == values["sha256"]))
        assert found is not None
        return found, False

    async def finish(self, file_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = (update(posting_file).where(posting_file.c.id == file_id)
                .values(**values, finished_at=func.now()).returning(posting_file))
        return (await self.session.execute(stmt)).mappings().one()

    async def get(self, file_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(posting_file).where(posting_file.c.id == file_id))
