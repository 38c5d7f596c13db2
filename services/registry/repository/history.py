"""Change history and read-audit SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, func, insert, literal, null, select, union_all
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.models import KERNEL, change_history, household, person
from services.registry.repository.common import all_rows

audit_event = KERNEL["audit_event"]


class HistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(change_history), list(rows))

    async def for_records(self, record_ids: Sequence[uuid.UUID], *, limit: int) -> list[RowMapping]:
        """The records' changes, newest first; a bulk-imported record's creation comes from its
        provenance columns (``import_id``, ``import_row``) as its first (oldest) entry."""
        h = change_history.c
        logged = select(h.record_type, h.record_id, h.version, h.action, h.changes, h.reason, h.changed_by,
                        h.changed_at, h.id.label("seq")).where(h.record_id.in_(record_ids))
        imported = [
            select(literal(kind).label("record_type"), table.c.id.label("record_id"), literal(1).label("version"),
                   literal("create").label("action"), _import_changes(table).label("changes"),
                   literal("bulk import").label("reason"), table.c.created_by.label("changed_by"),
                   table.c.created_at.label("changed_at"), literal(0).label("seq"))
            .where(table.c.id.in_(record_ids), table.c.import_id.is_not(None))
            for kind, table in (("person", person), ("household", household))
        ]
        everything = union_all(logged, *imported).subquery()
        stmt = select(everything).order_by(everything.c.seq.desc()).limit(limit)
        return list(await all_rows(self.session, stmt))


def _import_changes(table: Table) -> ColumnElement[Any]:
    """``{"import": {"from": null, "to": {"id": <import>, "row": <sheet row>}}}``, as ``service.common`` diffs
    records a change."""
    to = (func.jsonb_build_object("id", table.c.import_id, "row", table.c.import_row) if "import_row" in table.c
          else func.jsonb_build_object("id", table.c.import_id))
    return func.jsonb_build_object("import", func.jsonb_build_object("from", null(), "to", to))


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(audit_event), list(rows))
