"""Small helpers over Core statements: the kernel's (kernel/queries.py), plus ``any_of``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY

from kernel.queries import all_rows, one_or_none, page, raw_connection

__all__ = ["all_rows", "any_of", "held_for", "one_or_none", "page", "raw_connection"]


def any_of(column: Any, values: Sequence[Any]) -> Any:
    """``column = ANY($1)`` with one array parameter: one statement text whatever the list's length, so
    asyncpg's prepared statement is reused (an IN list of n values is a new statement for every n)."""
    return column == any_(bindparam(None, value=list(values), type_=ARRAY(column.type)))


def held_for(persons: Sequence[Any]) -> ColumnElement[bool]:
    """Ledger entries of these persons: posted to them, or posted for a person the registry copy did not
    know yet and matched to them when the registry sent them (``entry_match``; the entry never changes).
    The matched ids come from an InitPlan array, so both arms use an index (a BitmapOr)."""
    from services.benefits.models import entry, entry_match

    matched = select(entry_match.c.entry_id).where(any_of(entry_match.c.person_id, persons)).scalar_subquery()
    return or_(any_of(entry.c.person_id, persons), entry.c.id == any_(func.array(matched)))
