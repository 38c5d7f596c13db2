"""Event rules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import event_rule
from services.notify.repository.common import all_rows, one_or_none, page


async def upsert(session: AsyncSession, values: dict[str, Any]) -> RowMapping:
    stmt = pg_insert(event_rule).values(**values)
    row = await one_or_none(session, stmt.on_conflict_do_update(
        index_elements=["name"], set_={k: stmt.excluded[k] for k in values if k != "name"}).returning(*event_rule.c))
    assert row is not None
    return row


async def for_subject(session: AsyncSession, subject: str) -> Sequence[RowMapping]:
    return await all_rows(session, select(event_rule).where(event_rule.c.subject == subject, event_rule.c.enabled)
                          .order_by(event_rule.c.name))


async def list_page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    return await page(session, select(event_rule).order_by(event_rule.c.name, event_rule.c.id), limit=limit,
                      offset=offset)


async def remove(session: AsyncSession, rule_id: uuid.UUID) -> bool:
    return (await one_or_none(session, delete(event_rule).where(event_rule.c.id == rule_id)
                              .returning(event_rule.c.id))) is not None
