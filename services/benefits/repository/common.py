"""Small helpers over Core statements: the kernel's (kernel/queries.py), plus ``any_of``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from kernel.queries import all_rows, one_or_none, page, raw_connection

__all__ = ["all_rows", "any_of", "one_or_none", "page", "raw_connection"]


def any_of(column: Any, values: Sequence[Any]) -> Any:
    """``column = ANY($1)`` with one array parameter: one statement text whatever the list's length, so
    asyncpg's prepared statement is reused (an IN list of n values is a new statement for every n)."""
    return column == any_(bindparam(None, value=list(values), type_=ARRAY(column.type)))
