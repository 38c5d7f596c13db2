"""Small helpers over Core statements (the registry's, for this service)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import Select, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
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


async def raw_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction (bulk paths)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection  # type: ignore[return-value]


def any_of(column: Any, values: Sequence[Any]) -> Any:
    """``column = ANY($1)`` with one array parameter: one statement text whatever the list's length, so
    asyncpg's prepared statement is reused (an IN list of n values is a new statement for every n)."""
    return column == any_(bindparam(None, value=list(values), type_=ARRAY(column.type)))
