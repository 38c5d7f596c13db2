"""Small helpers over Core statements: the kernel's (kernel/queries.py), under this package's names."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy import TextClause, column, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from kernel.queries import all_rows as rows
from kernel.queries import one_or_none as first
from kernel.queries import page as paged
from kernel.queries import raw_first

__all__ = ["RawTx", "Tx", "first", "first_of", "paged", "positional", "rows"]


@dataclass
class RawTx:
    """A booking's transaction on raw asyncpg (``POST /bookings``, kernel.db.raw_transaction): its
    connection, and the metric increments to run once it has committed (the route runs them)."""

    conn: asyncpg.Connection
    after: list[Callable[[], None]] = field(default_factory=list)


# What the booking creation path runs on: the request's session (Beckn confirm, inside its savepoint)
# or a raw transaction (POST /bookings).
Tx: TypeAlias = "AsyncSession | RawTx"


async def first_of(db: Tx, stmt: TextClause | TextualSelect, params: dict[str, Any]) -> Mapping[Any, Any] | None:
    """The first row of a text statement on either; parameters go with the execution
    (TextClause.bindparams() would copy the statement every call)."""
    if isinstance(db, AsyncSession):
        return (await db.execute(stmt, params)).mappings().first()
    return await raw_first(db.conn, stmt, params)  # type: ignore[return-value]


def positional(sql: str | TextClause, names: Sequence[str]) -> TextualSelect:
    """A text statement whose result columns are ``names`` in that order (untyped, as plain text's are).

    SQLAlchemy caches the result metadata of such a statement with its compiled form; a plain
    ``text()`` result is described afresh from the cursor on every execution (per column), which was
    about a tenth of a booking's CPU. The SQL must name exactly these columns in this order (no ``*``)."""
    return (text(sql) if isinstance(sql, str) else sql).columns(*(column(name) for name in names))
