"""Benefit periods: the text form a department posts and the date range it covers.

monthly ``2026-11``, quarterly ``2026-Q4``, yearly ``2026`` (calendar year), one-time ``once``
(the scheme's whole validity).  A period is checked against the scheme's frequency, so a monthly
scheme refuses ``2026`` rather than guessing.
"""

from __future__ import annotations

import re
from datetime import date

FAR_FUTURE = date(2099, 12, 31)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
EXAMPLES = {"monthly": "2026-11", "quarterly": "2026-Q4", "yearly": "2026", "one_time": "once"}


class InvalidPeriod(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _year(raw: str) -> int:
    year = int(raw)
    if not 2000 <= year <= 2099:
        raise InvalidPeriod("year must be between 2000 and 2099")
    return year


def _month_end(year: int, month: int) -> date:
    first_of_next = date(year + (month == 12), month % 12 + 1, 1)
    return date.fromordinal(first_of_next.toordinal() - 1)


def period_range(frequency: str, period: str, *, valid_from: date, valid_to: date | None) -> tuple[date, date]:
    """(first day, last day) of ``period`` for a scheme of this frequency; InvalidPeriod says why not."""
    if frequency == "monthly":
        m = _MONTH.match(period)
        if not m:
            raise InvalidPeriod(f"a monthly scheme's period is YYYY-MM, e.g. {EXAMPLES['monthly']}")
        year, month = _year(m[1]), int(m[2])
        return date(year, month, 1), _month_end(year, month)
    if frequency == "quarterly":
        m = _QUARTER.match(period)
        if not m:
            raise InvalidPeriod(f"a quarterly scheme's period is YYYY-Qn, e.g. {EXAMPLES['quarterly']}")
        year, quarter = _year(m[1]), int(m[2])
        return date(year, 3 * quarter - 2, 1), _month_end(year, 3 * quarter)
    if frequency == "yearly":
        m = _YEAR.match(period)
        if not m:
            raise InvalidPeriod(f"a yearly scheme's period is YYYY, e.g. {EXAMPLES['yearly']}")
        year = _year(m[1])
        return date(year, 1, 1), date(year, 12, 31)
    if frequency == "one_time":
        if period != "once":
            raise InvalidPeriod("a one-time scheme's period is 'once'")
        return valid_from, valid_to or FAR_FUTURE
    raise InvalidPeriod(f"unknown frequency {frequency!r}")


def current_period(frequency: str, on: date) -> str:
    """The period containing ``on``."""
    if frequency == "monthly":
        return f"{on.year:04d}-{on.month:02d}"
    if frequency == "quarterly":
        return f"{on.year:04d}-Q{(on.month - 1) // 3 + 1}"
    if frequency == "yearly":
        return f"{on.year:04d}"
    return "once"


def overlaps(a: tuple[date, date], b: tuple[date, date]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]
