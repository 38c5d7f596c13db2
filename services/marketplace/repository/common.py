"""Small helpers over Core statements: the kernel's (kernel/queries.py), under this package's names."""

from collections.abc import Sequence

from sqlalchemy import TextClause, column, text
from sqlalchemy.sql.selectable import TextualSelect

from kernel.queries import all_rows as rows
from kernel.queries import one_or_none as first
from kernel.queries import page as paged

__all__ = ["first", "paged", "positional", "rows"]


def positional(sql: str | TextClause, names: Sequence[str]) -> TextualSelect:
    """A text statement whose result columns are ``names`` in that order (untyped, as plain text's are).

    SQLAlchemy caches the result metadata of such a statement with its compiled form; a plain
    ``text()`` result is described afresh from the cursor on every execution (per column), which was
    about a tenth of a booking's CPU. The SQL must name exactly these columns in this order (no ``*``)."""
    return (text(sql) if isinstance(sql, str) else sql).columns(*(column(name) for name in names))
