"""Posting files: one row per file a department sent, its rows staged for posting, each row's outcome."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.models import file_row, posting_file
from services.benefits.repository.common import all_rows, one_or_none, page, raw_connection

# Each posted row's outcome, in one statement per chunk.
RECORD_OUTCOMES_SQL = """
UPDATE benefits.file_row f SET status = o.status, entry_id = o.entry_id, flags = o.flags, errors = o.errors
FROM (SELECT unnest($2::int4[]) AS row, unnest($3::text[]) AS status, unnest($4::uuid[]) AS entry_id,
             unnest($5::text[])::uuid[] AS flags, unnest($6::text[])::jsonb AS errors) o
WHERE f.file_id = $1 AND f.row = o.row
"""


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

    async def stage_rows(self, file_id: uuid.UUID, rows: Sequence[tuple[int, dict[str, str]]]) -> None:
        """COPY the file's rows in (a file of 100,000 rows is one COPY, not 100,000 inserts)."""
        conn = await raw_connection(self.session)
        await conn.copy_records_to_table("file_row", schema_name="benefits", columns=["file_id", "row", "cells"],
                                         records=[(file_id, number, json.dumps(cells)) for number, cells in rows])

    async def update(self, file_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = update(posting_file).where(posting_file.c.id == file_id).values(**values).returning(posting_file)
        return (await self.session.execute(stmt)).mappings().one()

    async def add_counts(self, file_id: uuid.UUID, counts: dict[str, int], done: int,
                         finished_at: datetime | None) -> RowMapping:
        values: dict[str, Any] = {k: getattr(posting_file.c, k) + v for k, v in counts.items()}
        values["rows_done"] = posting_file.c.rows_done + done
        values["status"] = "done" if finished_at else "processing"
        if finished_at:
            values["finished_at"] = finished_at
        return await self.update(file_id, values)

    async def get(self, file_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(posting_file).where(posting_file.c.id == file_id))

    async def lock(self, file_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(posting_file).where(posting_file.c.id == file_id)
                                 .with_for_update())

    async def pending_rows(self, file_id: uuid.UUID, limit: int) -> list[RowMapping]:
        stmt = (select(file_row.c.row, file_row.c.cells)
                .where(file_row.c.file_id == file_id, file_row.c.status.is_(None))
                .order_by(file_row.c.row).limit(limit))
        return list(await all_rows(self.session, stmt))

    async def record_outcomes(self, file_id: uuid.UUID, outcomes: Sequence[dict[str, Any]]) -> None:
        conn = await raw_connection(self.session)
        await conn.execute(
            RECORD_OUTCOMES_SQL, file_id, [o["row"] for o in outcomes], [o["status"] for o in outcomes],
            [o["entry_id"] for o in outcomes], ["{" + ",".join(str(f) for f in o["flags"]) + "}" for o in outcomes],
            [json.dumps(o["errors"]) for o in outcomes])

    async def rows(self, file_id: uuid.UUID, *, statuses: Sequence[str] | None, limit: int, offset: int
                   ) -> tuple[list[RowMapping], int]:
        stmt = select(file_row.c.row, file_row.c.status, file_row.c.entry_id, file_row.c.flags,
                      file_row.c.errors).where(file_row.c.file_id == file_id)
        if statuses:
            stmt = stmt.where(file_row.c.status.in_(list(statuses)))
        return await page(self.session, stmt.order_by(file_row.c.row, file_row.c.file_id), limit=limit,
                          offset=offset)

    async def status_counts(self, file_id: uuid.UUID) -> dict[str, int]:
        stmt = (select(func.coalesce(file_row.c.status, "pending"), func.count())
                .where(file_row.c.file_id == file_id).group_by(file_row.c.status))
        return {status: int(n) for status, n in (await self.session.execute(stmt)).all()}
