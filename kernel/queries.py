"""Helpers over SQLAlchemy Core statements that every service's repository uses.

One copy here instead of one per service: reading mapped rows, one page with its total (through
:func:`kernel.paging.paged`, which refuses an order with ties), and the asyncpg connection under
a session for bulk paths (COPY) inside the session's transaction, and text statements run on a
raw asyncpg connection (measured hot paths, see :func:`kernel.db.raw_transaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import Select, TextClause, func, select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as _asyncpg_dialect
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import TextualSelect

from kernel.paging import paged


async def one_or_none(session: AsyncSession, stmt: Executable) -> RowMapping | None:
    return (await session.execute(stmt)).mappings().first()


async def all_rows(session: AsyncSession, stmt: Executable) -> Sequence[RowMapping]:
    return (await session.execute(stmt)).mappings().all()


async def page(session: AsyncSession, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    """One page of ``stmt`` (which must carry a unique order) and the total count."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = await all_rows(session, paged(stmt, limit=limit, offset=offset))  # refuses an order with ties
    return list(rows), int(total or 0)


async def raw_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction (bulk paths).

    SQLAlchemy's asyncpg adapter sends BEGIN only before its own first statement, so a raw statement
    made first would run, and commit, on its own, and a later rollback of the session would not undo
    it.  This begins the transaction as the adapter itself would (its ``_start_transaction``, the one
    private call here; ``tests/kernel/test_queries.py`` fails if a SQLAlchemy upgrade changes it), and
    the session's commit or rollback ends it."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted = raw.dbapi_connection
    if getattr(adapted, "_transaction", True) is None:
        await adapted._start_transaction()  # type: ignore[union-attr]
    return raw.driver_connection  # type: ignore[return-value]


_DIALECT = _asyncpg_dialect()


@lru_cache(maxsize=256)
def dollar_sql(stmt: TextClause | TextualSelect) -> tuple[str, tuple[str, ...]]:
    """A text statement (``:name`` parameters) as asyncpg takes it: the SQL with ``$n`` placeholders and
    the parameter names in their order.  Compiled once per statement object (module-level statements)."""
    compiled = stmt.compile(dialect=_DIALECT)
    return compiled.string, tuple(compiled.positiontup or ())


async def raw_first(conn: asyncpg.Connection, stmt: TextClause | TextualSelect,
                    params: dict[str, Any]) -> asyncpg.Record | None:
    """The first row of ``stmt`` run on a raw asyncpg connection with named ``params`` (untyped binds,
    as SQLAlchemy's asyncpg dialect sends them: the server's parameter types decide)."""
    sql, names = dollar_sql(stmt)
    return await conn.fetchrow(sql, *(params[n] for n in names))


async def raw_execute(conn: asyncpg.Connection, stmt: TextClause, params: dict[str, Any]) -> None:
    sql, names = dollar_sql(stmt)
    await conn.execute(sql, *(params[n] for n in names))
