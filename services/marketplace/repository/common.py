"""Small helpers over Core statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from kernel.paging import paged as kernel_paged


async def first(session: AsyncSession, stmt: Executable) -> RowMapping | None:
    return (await session.execute(stmt)).mappings().first()


async def rows(session: AsyncSession, stmt: Executable) -> Sequence[RowMapping]:
    return (await session.execute(stmt)).mappings().all()


async def paged(session: AsyncSession, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    """One page of ``stmt`` (which must carry a unique order) and the total count."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return list(await rows(session, kernel_paged(stmt, limit=limit, offset=offset))), int(total or 0)
