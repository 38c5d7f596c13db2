"""Templates (one row per key, language and version)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import template
from services.notify.repository.common import one_or_none, page


async def next_version(session: AsyncSession, key: str, language: str) -> int:
    current = await session.scalar(select(func.max(template.c.version)).where(
        template.c.key == key, template.c.language == language))
    return int(current or 0) + 1


async def insert(session: AsyncSession, values: dict[str, Any]) -> RowMapping:
    row = await one_or_none(session, template.insert().values(**values).returning(*template.c))
    assert row is not None
    return row


async def current(session: AsyncSession, key: str, language: str) -> RowMapping | None:
    return await one_or_none(session, select(template).where(
        template.c.key == key, template.c.language == language, template.c.active)
        .order_by(template.c.version.desc()).limit(1))


async def list_page(session: AsyncSession, *, key: str | None, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    stmt = select(template)
    if key:
        stmt = stmt.where(template.c.key == key)
    return await page(session, stmt.order_by(template.c.key, template.c.language, template.c.version.desc(),
                                             template.c.id), limit=limit, offset=offset)
