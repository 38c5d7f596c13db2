"""Small helpers over Core statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from kernel.paging import paged


async def one_or_none(session: AsyncSession, stmt: Executable) -> RowMapping | None:
    return (await session.execute(stmt)).mappings().first()


async def all_rows(session: AsyncSession, stmt: Executable) -> Sequence[RowMapping]:
    return (await session.execute(stmt)).mappings().all()


async def page(session: AsyncSession, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = await all_rows(session, paged(stmt, limit=limit, offset=offset))  # refuses an order with ties
    return list(rows), int(total or 0)
