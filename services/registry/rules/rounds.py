"""The yearly revision round (the January round of the TCMS story), as pure rules.

Each household of the round's area is carried forward as a *round item* that starts
``pending`` and is worked by the ward's volunteers: ``confirm`` (nothing changed), ``edit``
(changes went through the household / person services) or ``close`` (moved away, all members
deceased, or dissolved).  A reviewer may ``reopen`` a closed item while the round is open,
because closures take effect only when the round is closed.  Forcing a round closed marks the
items nobody reached ``unreached``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class ItemStatus(str, Enum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    EDITED = "edited"
    CLOSED = "closed"
    UNREACHED = "unreached"


class ItemAction(str, Enum):
    CONFIRM = "confirm"
    EDIT = "edit"
    CLOSE = "close"
    REOPEN = "reopen"
    MARK_UNREACHED = "mark_unreached"


class CloseOutcome(str, Enum):
    MOVED = "moved"
    DECEASED = "deceased"  # every member has died
    DISSOLVED = "dissolved"  # the members live elsewhere now (married out, joined other households)


# Statuses that count as "reached" for coverage.
DONE = frozenset({ItemStatus.CONFIRMED, ItemStatus.EDITED, ItemStatus.CLOSED})

TRANSITIONS: dict[tuple[ItemStatus, ItemAction], ItemStatus] = {
    (ItemStatus.PENDING, ItemAction.CONFIRM): ItemStatus.CONFIRMED,
    (ItemStatus.PENDING, ItemAction.EDIT): ItemStatus.EDITED,
    (ItemStatus.CONFIRMED, ItemAction.EDIT): ItemStatus.EDITED,
    (ItemStatus.EDITED, ItemAction.EDIT): ItemStatus.EDITED,
    (ItemStatus.PENDING, ItemAction.CLOSE): ItemStatus.CLOSED,
    (ItemStatus.CONFIRMED, ItemAction.CLOSE): ItemStatus.CLOSED,
    (ItemStatus.EDITED, ItemAction.CLOSE): ItemStatus.CLOSED,
    (ItemStatus.CLOSED, ItemAction.REOPEN): ItemStatus.PENDING,
    (ItemStatus.PENDING, ItemAction.MARK_UNREACHED): ItemStatus.UNREACHED,
}

# Who may open and close a round (the block / upazila office), and who may reopen an item: the
# role table's permissions (kernel/roles.py, docs/roles.md).
ROUND_PERMISSION = "registry:round_manage"
REOPEN_PERMISSION = "registry:round_reopen"


class InvalidTransition(ValueError):
    pass


@dataclass(frozen=True)
class ItemState:
    status: ItemStatus = ItemStatus.PENDING
    outcome: CloseOutcome | None = None
    destination: str | None = None


def allowed_actions(status: ItemStatus) -> list[str]:
    return sorted(a.value for (s, a) in TRANSITIONS if s is status)


def apply(
    state: ItemState,
    action: ItemAction,
    *,
    outcome: CloseOutcome | None = None,
    destination: str | None = None,
) -> ItemState:
    """The next state, or :class:`InvalidTransition` saying what is allowed instead."""
    target = TRANSITIONS.get((state.status, action))
    if target is None:
        allowed = ", ".join(allowed_actions(state.status)) or "nothing (final)"
        raise InvalidTransition(f"Cannot {action.value} an item that is {state.status.value}; allowed: {allowed}")
    if action is ItemAction.CLOSE:
        if outcome is None:
            raise InvalidTransition("Closing an item needs an outcome: moved, deceased or dissolved")
        if destination is not None and outcome is not CloseOutcome.MOVED:
            raise InvalidTransition("Only a household that moved has a destination area")
        return ItemState(target, outcome, destination)
    if outcome is not None or destination is not None:
        raise InvalidTransition(f"{action.value} takes no outcome or destination")
    return ItemState(target)


@dataclass(frozen=True)
class Coverage:
    """Counts of carried-forward items by status; found households are reported beside them."""

    total: int
    pending: int
    confirmed: int
    edited: int
    closed: int
    unreached: int

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> Coverage:
        by = {s.value: int(counts.get(s.value, 0)) for s in ItemStatus}
        return cls(total=sum(by.values()), **by)

    @property
    def reached(self) -> int:
        return self.confirmed + self.edited + self.closed

    @property
    def ratio(self) -> float:
        """Share of households reached; an empty round is trivially complete."""
        return round(self.reached / self.total, 4) if self.total else 1.0

    @property
    def complete(self) -> bool:
        return self.pending == 0 and self.unreached == 0


def child_area(code: str, area: str) -> str:
    """The child of ``area`` that ``code`` lies in (``area`` itself for records held at that level)."""
    if code == area:
        return area
    depth = area.count("-") + 1
    return "-".join(code.split("-")[: depth + 1])
