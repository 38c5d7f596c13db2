"""The booking state machine: which action moves a booking from which status to which.

``requested → offered → assigned → en_route → at_location → in_progress → completed → rated``;
an offer that is declined or times out goes back to ``requested`` (and on to the next worker);
a worker who drops an assigned job sends it back to ``requested`` as well; ``cancelled`` is
reachable until the work starts.  Who may take each action is in ``rules/access.py``.
"""

from __future__ import annotations

from typing import Final

STATUSES: Final = ("requested", "offered", "assigned", "en_route", "at_location", "in_progress", "completed",
                   "rated", "cancelled")
ACTIVE: Final = frozenset({"assigned", "en_route", "at_location", "in_progress"})  # the worker holds the job
FINAL: Final = frozenset({"rated", "cancelled"})
CANCELLABLE: Final = frozenset({"requested", "offered", "assigned", "en_route", "at_location"})
RESCHEDULABLE: Final = frozenset({"requested", "offered", "assigned"})
DISPUTABLE: Final = frozenset({"assigned", "en_route", "at_location", "in_progress", "completed", "rated",
                               "cancelled"})

TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "offer": (frozenset({"requested"}), "offered"),
    "decline": (frozenset({"offered"}), "requested"),
    "offer_expired": (frozenset({"offered"}), "requested"),
    "accept": (frozenset({"offered"}), "assigned"),
    "withdraw": (frozenset({"assigned"}), "requested"),  # the worker drops the job before leaving
    # A new slot the worker's shifts (or that day's exceptions) do not cover: on to the next worker.
    "reschedule_release": (frozenset({"offered", "assigned"}), "requested"),
    "depart": (frozenset({"assigned"}), "en_route"),
    "arrive": (frozenset({"en_route"}), "at_location"),
    "start": (frozenset({"at_location"}), "in_progress"),
    "complete": (frozenset({"in_progress"}), "completed"),
    "rate": (frozenset({"completed"}), "rated"),
    "cancel": (CANCELLABLE, "cancelled"),
}


class InvalidTransition(ValueError):
    def __init__(self, status: str, action: str) -> None:
        allowed = sorted(TRANSITIONS[action][0]) if action in TRANSITIONS else []
        super().__init__(f"a booking that is {status} cannot be {action!r}ed"
                         + (f" (only from {', '.join(allowed)})" if allowed else ""))
        self.status = status
        self.action = action


def next_status(status: str, action: str) -> str:
    """The status after ``action``; raises :class:`InvalidTransition` when it is not allowed."""
    allowed = TRANSITIONS.get(action)
    if allowed is None or status not in allowed[0]:
        raise InvalidTransition(status, action)
    return allowed[1]


def actions_from(status: str) -> list[str]:
    return sorted(action for action, (sources, _) in TRANSITIONS.items() if status in sources)


# Beckn/ONDC fulfillment state codes for each status.
FULFILLMENT_STATE: Final = {
    "requested": "Pending",
    "offered": "Pending",
    "assigned": "Agent-Assigned",
    "en_route": "In-Transit",
    "at_location": "At-Location",
    "in_progress": "In-Progress",
    "completed": "Completed",
    "rated": "Completed",
    "cancelled": "Cancelled",
}
ORDER_STATE: Final = {
    "requested": "Created", "offered": "Created", "assigned": "Accepted", "en_route": "In-progress",
    "at_location": "In-progress", "in_progress": "In-progress", "completed": "Completed", "rated": "Completed",
    "cancelled": "Cancelled",
}
