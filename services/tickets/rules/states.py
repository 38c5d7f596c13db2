"""The ticket state machine: every allowed (status, action) pair and where it leads.

Anything not in :data:`TRANSITIONS` is refused, so a new status or action has to be added here
on purpose.  Escalating is a transfer to the next level's queue (never a closure: the CPGRAMS
rule), so an escalated ticket is open and waits to be picked up like a new one.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_ON_REPORTER = "waiting_on_reporter"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    ESCALATED = "escalated"


class Action(StrEnum):
    ASSIGN = "assign"
    START = "start"
    WAIT_ON_REPORTER = "wait_on_reporter"
    REPORTER_REPLIED = "reporter_replied"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    ESCALATE = "escalate"


S, A = Status, Action
_WORKING = (S.ASSIGNED, S.IN_PROGRESS)
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (S.NEW, A.ASSIGN): S.ASSIGNED,
    (S.NEW, A.ESCALATE): S.ESCALATED,
    (S.REOPENED, A.ASSIGN): S.ASSIGNED,
    (S.REOPENED, A.ESCALATE): S.ESCALATED,
    (S.ESCALATED, A.ASSIGN): S.ASSIGNED,
    (S.ESCALATED, A.ESCALATE): S.ESCALATED,
    **{(s, A.ASSIGN): S.ASSIGNED for s in _WORKING},  # reassignment
    **{(s, A.ESCALATE): S.ESCALATED for s in _WORKING},
    **{(s, A.RESOLVE): S.RESOLVED for s in _WORKING},
    **{(s, A.WAIT_ON_REPORTER): S.WAITING_ON_REPORTER for s in _WORKING},
    (S.ASSIGNED, A.START): S.IN_PROGRESS,
    (S.WAITING_ON_REPORTER, A.REPORTER_REPLIED): S.IN_PROGRESS,
    (S.WAITING_ON_REPORTER, A.RESOLVE): S.RESOLVED,
    (S.WAITING_ON_REPORTER, A.ESCALATE): S.ESCALATED,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
    (S.RESOLVED, A.REOPEN): S.REOPENED,
    (S.CLOSED, A.REOPEN): S.REOPENED,  # only through a poor rating (the appeal), see service
}

OPEN = frozenset(s for s in Status if s not in (S.RESOLVED, S.CLOSED))
# Statuses whose SLA clocks are paused: the ball is in the reporter's court.
PAUSED = frozenset({S.WAITING_ON_REPORTER})
# Statuses where nobody at the desk has the ticket yet.
UNASSIGNED = frozenset({S.NEW, S.REOPENED, S.ESCALATED})


class InvalidTransition(ValueError):
    def __init__(self, status: Status, action: Action) -> None:
        self.status, self.action = status, action
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s == status)
        super().__init__(
            f"A ticket that is {status.value} cannot {action.value.replace('_', ' ')}; "
            f"allowed: {', '.join(allowed) or 'nothing'}"
        )
        self.allowed = allowed


def next_status(status: Status | str, action: Action | str) -> Status:
    status, action = Status(status), Action(action)
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(status, action) from None


def allowed_actions(status: Status | str) -> list[Action]:
    return [a for (s, a) in TRANSITIONS if s == Status(status)]
