"""Weekly shifts with dated exceptions: is a worker working at a given local moment?"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time


@dataclass(frozen=True)
class Shift:
    weekday: int  # 0 = Monday
    starts: time
    ends: time


@dataclass(frozen=True)
class ShiftException:
    on_date: date
    available: bool
    starts: time | None = None
    ends: time | None = None


def on_shift(shifts: Iterable[Shift], exceptions: Iterable[ShiftException], moment: datetime) -> bool:
    """An exception on the day wins over the weekly template: off all day, or its own hours.

    A worker with no weekly template at all is taken to work whenever the live flag says so."""
    day, clock = moment.date(), moment.time().replace(tzinfo=None)
    for exc in exceptions:
        if exc.on_date == day:
            if not exc.available:
                return False
            if exc.starts is not None and exc.ends is not None:
                return exc.starts <= clock < exc.ends
            return True
    template = list(shifts)
    if not template:
        return True
    return any(s.weekday == day.weekday() and s.starts <= clock < s.ends for s in template)
