"""Due-date and status rules of an immunisation schedule (India UIP), over schedule items that are data.

``due = max(base + min_age, predecessor given + min_gap)`` where ``base`` is the date of birth (or the
pregnancy's registration for maternal doses).  Windows: ``upcoming`` until ``due - lead``; ``due`` until
``due + grace``; ``overdue`` until the upper age limit; ``missed`` after it.  A dose whose predecessor
is not given yet is ``waiting``; one whose predecessor had to be given by an age and was not is
``dropped`` (Penta-2/3 when Penta-1 was not given by one year; RVV-2 stays valid at any age when RVV-1
was given before one year).  The SQL in ``repository/duelists.py`` computes the same for whole areas;
a property test holds the two together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

LISTED = ("due", "overdue")


@dataclass(frozen=True)
class ScheduleItem:
    code: str
    vaccine: str
    dose: int
    target: str  # child or pregnancy
    min_age_days: int
    upper_age_days: int | None = None
    predecessor: str | None = None
    min_gap_days: int = 0
    predecessor_before_age_days: int | None = None
    lead_days: int = 7
    grace_days: int = 28
    area_prefixes: tuple[str, ...] | None = None

    def applies_to(self, area_code: str) -> bool:
        return not self.area_prefixes or any(area_code.startswith(p) for p in self.area_prefixes)


@dataclass(frozen=True)
class DoseState:
    code: str
    status: str  # given, waiting, dropped, upcoming, due, overdue, missed
    due_on: date | None


def dose_state(item: ScheduleItem, base: date, given: Mapping[str, date], on: date) -> DoseState:
    if item.code in given:
        return DoseState(item.code, "given", None)
    due = base + timedelta(days=item.min_age_days)
    if item.predecessor:
        before = given.get(item.predecessor)
        if before is None:
            return DoseState(item.code, "waiting", None)
        limit = item.predecessor_before_age_days
        if limit is not None and before > base + timedelta(days=limit):
            return DoseState(item.code, "dropped", None)
        due = max(due, before + timedelta(days=item.min_gap_days))
    if item.upper_age_days is not None and on > base + timedelta(days=item.upper_age_days):
        return DoseState(item.code, "missed", due)
    if on < due - timedelta(days=item.lead_days):
        return DoseState(item.code, "upcoming", due)
    if on <= due + timedelta(days=item.grace_days):
        return DoseState(item.code, "due", due)
    return DoseState(item.code, "overdue", due)


def due_doses(items: Sequence[ScheduleItem], *, target: str, base: date, area_code: str,
              given: Mapping[str, date], on: date) -> list[DoseState]:
    """The doses a worker should list today for one person: due or overdue, in schedule order."""
    states = (dose_state(i, base, given, on) for i in items if i.target == target and i.applies_to(area_code))
    return [s for s in states if s.status in LISTED]


def parse_items(raw: Sequence[Mapping[str, object]]) -> list[ScheduleItem]:
    """Schedule items from their JSON form; unknown fields are refused (a typo must not go unseen)."""
    fields = set(ScheduleItem.__dataclass_fields__)
    items = []
    for entry in raw:
        unknown = set(entry) - fields
        if unknown:
            raise ValueError(f"unknown schedule field(s) {sorted(unknown)} in {entry.get('code')!r}")
        prefixes = entry.get("area_prefixes")
        items.append(ScheduleItem(**{**entry, "area_prefixes": tuple(prefixes) if prefixes else None}))  # type: ignore[arg-type]
    codes = [i.code for i in items]
    missing = {i.predecessor for i in items if i.predecessor and i.predecessor not in codes}
    if len(set(codes)) != len(codes) or missing:
        raise ValueError(f"schedule codes must be unique and predecessors known (unknown: {sorted(missing)})")
    return items
