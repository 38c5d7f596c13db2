"""Small helpers over Core statements: the kernel's (kernel/queries.py), plus ``any_of``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import BindParameter

from kernel.queries import all_rows, one_or_none, page, raw_connection

__all__ = ["all_rows", "any_of", "array_param", "held_for", "one_or_none", "page", "raw_connection"]


def any_of(column: Any, values: Sequence[Any]) -> Any:
    """``column = ANY($1)`` with one array parameter: one statement text whatever the list's length, so
    asyncpg's prepared statement is reused (an IN list of n values is a new statement for every n)."""
    return column == any_(bindparam(None, value=list(values), type_=ARRAY(column.type)))


def array_param(name: str, column: Any) -> Any:
    """A named array parameter of ``column``'s type, for statements built once (a module-level
    statement skips SQLAlchemy's per-call construction: aliases, subqueries and cache keys cost more
    client CPU than the round trip on the posting path)."""
    return bindparam(name, type_=ARRAY(column.type))


def held_for(persons: Sequence[Any] | Any) -> ColumnElement[bool]:
    """Ledger entries of these persons: posted to them, or posted for a person the registry copy did not
    know yet and matched to them when the registry sent them (``entry_match``; the entry never changes).
    The matched ids come from an InitPlan array, so both arms use an index (a BitmapOr)."""
    from services.benefits.models import entry, entry_match

    if not isinstance(persons, BindParameter):
        persons = bindparam(None, value=list(persons), type_=ARRAY(entry.c.person_id.type))
    matched = select(entry_match.c.entry_id).where(entry_match.c.person_id == any_(persons)).scalar_subquery()
    return or_(entry.c.person_id == any_(persons), entry.c.id == any_(func.array(matched)))
