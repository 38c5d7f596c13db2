"""Small helpers over Core statements: the kernel's (kernel/queries.py), under this package's names."""

from kernel.queries import all_rows, one_or_none, page, raw_connection

__all__ = ["all_rows", "one_or_none", "page", "raw_connection"]
