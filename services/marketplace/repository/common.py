"""Small helpers over Core statements: the kernel's (kernel/queries.py), under this package's names."""

from kernel.queries import all_rows as rows
from kernel.queries import one_or_none as first
from kernel.queries import page as paged

__all__ = ["first", "paged", "rows"]
