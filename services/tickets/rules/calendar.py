"""Business time: a desk's working hours, holidays and off-Saturdays in its own time zone.

Deadlines are stored in UTC and computed in the desk's zone (``Asia/Kolkata``, ``Asia/Dhaka``),
the recurring time-zone bug of the trackers in ``escalation.md``.  Each working interval is
turned into a UTC range first, so the arithmetic never adds durations to local wall-clock times.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 3 * 366  # a calendar with no working time in three years is refused, not looped over forever


class NoWorkingTime(ValueError):
    pass


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str
    # weekday index (0 = Monday) -> local (start, end) intervals, sorted and not overlapping
    hours: Mapping[int, Sequence[tuple[time, time]]]
    holidays: frozenset[date] = frozenset()
    saturdays_off: frozenset[int] = frozenset()  # 2 and 4: the second and fourth Saturdays
    zone: ZoneInfo = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))

    def is_working_day(self, day: date) -> bool:
        if day in self.holidays or not self.hours.get(day.weekday()):
            return False
        return not (day.weekday() == 5 and (day.day - 1) // 7 + 1 in self.saturdays_off)

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working intervals as UTC ranges."""
        if not self.is_working_day(day):
            return []
        out = []
        for start, end in self.hours[day.weekday()]:
            a = datetime.combine(day, start, tzinfo=self.zone).astimezone(timezone.utc)
            b = datetime.combine(day, end, tzinfo=self.zone).astimezone(timezone.utc)
            out.append((a, b))
        return out

    def _from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals from ``moment`` on, the first one clipped to start at it."""
        day = moment.astimezone(self.zone).date() - timedelta(days=1)  # an interval may cross midnight in UTC
        for _ in range(MAX_DAYS):
            for a, b in self.intervals(day):
                if b > moment:
                    yield max(a, moment), b
            day += timedelta(days=1)
        raise NoWorkingTime("the calendar has no working time in the next three years")

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of working time after ``start``."""
        remaining = timedelta(seconds=seconds)
        if remaining <= timedelta(0):
            return start
        for a, b in self._from(start):
            if b - a >= remaining:
                return a + remaining
            remaining -= b - a
        raise AssertionError("unreachable")  # _from raises first

    def between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end)."""
        if end <= start:
            return 0.0
        total = timedelta(0)
        for a, b in self._from(start):
            if a >= end:
                break
            total += min(b, end) - a
        return total.total_seconds()


def parse_hours(working_hours: Mapping[str, Sequence[Sequence[str]]]) -> dict[int, list[tuple[time, time]]]:
    """``{"mon": [["10:00", "17:30"]]}`` -> ``{0: [(10:00, 17:30)]}``; raises ValueError naming the fault."""
    out: dict[int, list[tuple[time, time]]] = {}
    for name, ranges in working_hours.items():
        if name not in WEEKDAYS:
            raise ValueError(f"unknown weekday {name!r}; use {', '.join(WEEKDAYS)}")
        parsed = sorted((time.fromisoformat(r[0]), time.fromisoformat(r[1])) for r in ranges)
        for (a, b), nxt in zip(parsed, [*parsed[1:], None], strict=True):
            if b <= a:
                raise ValueError(f"{name}: {a:%H:%M}-{b:%H:%M} ends before it starts")
            if nxt is not None and nxt[0] < b:
                raise ValueError(f"{name}: working ranges overlap")
        out[WEEKDAYS.index(name)] = parsed
    if not any(out.values()):
        raise ValueError("at least one working range is needed")
    return out


def build_calendar(tz: str, working_hours: Mapping[str, Sequence[Sequence[str]]], holidays: frozenset[date],
                   saturdays_off: Sequence[int]) -> BusinessCalendar:
    return BusinessCalendar(tz, parse_hours(working_hours), holidays, frozenset(saturdays_off))
