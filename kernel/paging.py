"""Paged lists that neither skip nor repeat rows: the ORDER BY must end in a unique key.

Offset paging over an order with ties (a thousand duplicate flags written by one import with
one ``created_at``) lets PostgreSQL return tied rows in any order on each page, so a client
paging through sees some twice and others never.  :func:`paged` refuses such a statement: its
ORDER BY must contain every primary-key column of a table it selects from (``…, id``).
Every paged list of every service goes through here (``tests/test_paging.py`` checks that
no repository calls ``.offset()`` on its own).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Select, Table


def _order_columns(stmt: Select[Any]) -> tuple[set[tuple[str, str]], dict[str, Table]]:
    """The table columns the ORDER BY sorts on (through subqueries and labels) and their tables."""
    keys: set[tuple[str, str]] = set()
    tables: dict[str, Table] = {}
    for clause in stmt._order_by_clauses:
        element: Any = clause
        while not isinstance(element, Column) and getattr(element, "element", None) is not None:
            element = element.element  # desc(), nulls_last(), labels
        for column in getattr(element, "proxy_set", ()):  # a subquery's column proxies its table's
            table = getattr(column, "table", None)
            if isinstance(column, Column) and isinstance(table, Table):
                keys.add((table.fullname, column.name))
                tables[table.fullname] = table
    return keys, tables


def unique_order_problem(stmt: Select[Any]) -> str | None:
    """None when the ORDER BY holds a whole primary key of a table it sorts on, else why not."""
    ordered, tables = _order_columns(stmt)
    if not ordered:
        return "a paged list needs an ORDER BY ending in a unique key (add the id)"
    for table in tables.values():
        key = {(table.fullname, c.name) for c in table.primary_key.columns}
        if key and key <= ordered:
            return None
    return f"ORDER BY {sorted(c for _, c in ordered)} has ties: add the table's id as the last sort key"


def paged(stmt: Select[Any], *, limit: int | None, offset: int) -> Select[Any]:
    """``stmt`` with LIMIT/OFFSET, once its order is known to be unique (a programming error otherwise)."""
    problem = unique_order_problem(stmt)
    if problem is not None:
        raise RuntimeError(problem)
    stmt = stmt.offset(offset)
    return stmt.limit(limit) if limit is not None else stmt
