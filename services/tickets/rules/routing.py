"""Which desk takes a ticket: the nearest desk at or above the reporter's area for the category;
escalation goes to the nearest desk strictly above the current one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kernel.areas import is_within


@dataclass(frozen=True)
class DeskRef:
    id: Any
    area_code: str
    level: str
    categories: tuple[str, ...]

    def takes(self, category: str) -> bool:
        return not self.categories or category in self.categories


def route(desks: Sequence[DeskRef], area_code: str, category: str) -> DeskRef | None:
    """The deepest desk whose area contains ``area_code`` and that takes ``category``."""
    fitting = [d for d in desks if d.takes(category) and is_within(area_code, d.area_code)]
    return max(fitting, key=lambda d: (d.area_code.count("-"), d.area_code, str(d.id)), default=None)


def next_level(desks: Sequence[DeskRef], current: DeskRef, category: str) -> DeskRef | None:
    """The deepest desk strictly above ``current`` (its area an ancestor) that takes ``category``."""
    above = [d for d in desks
             if d.takes(category) and d.area_code != current.area_code and is_within(current.area_code, d.area_code)]
    return max(above, key=lambda d: (d.area_code.count("-"), d.area_code, str(d.id)), default=None)
