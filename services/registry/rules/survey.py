"""The survey workflow of a household record, as a pure state machine.

``collected`` (by a volunteer, possibly offline) -> ``verified`` (ward member / panchayat
secretary) -> ``approved`` (block / upazila office).  Either reviewer may send it back
(``returned``, with a reason).  Any content edit makes the record ``collected`` again: what
was verified is no longer what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kernel import roles


class SurveyStatus(str, Enum):
    COLLECTED = "collected"
    VERIFIED = "verified"
    APPROVED = "approved"
    RETURNED = "returned"


class SurveyAction(str, Enum):
    VERIFY = "verify"
    APPROVE = "approve"
    RETURN = "return"
    EDIT = "edit"


# The permission each reviewer action needs: who holds it, and at which area level, is the
# role table's (kernel/roles.py, docs/roles.md).
ACTION_PERMISSIONS: dict[SurveyAction, str] = {
    SurveyAction.VERIFY: "registry:survey_verify",
    SurveyAction.APPROVE: "registry:survey_approve",
    SurveyAction.RETURN: "registry:survey_return",
}
ACTION_ROLES: dict[SurveyAction, frozenset[str]] = {
    action: roles.roles_for(permission) for action, permission in ACTION_PERMISSIONS.items()
}

TRANSITIONS: dict[tuple[SurveyStatus, SurveyAction], SurveyStatus] = {
    (SurveyStatus.COLLECTED, SurveyAction.VERIFY): SurveyStatus.VERIFIED,
    (SurveyStatus.COLLECTED, SurveyAction.RETURN): SurveyStatus.RETURNED,
    (SurveyStatus.VERIFIED, SurveyAction.APPROVE): SurveyStatus.APPROVED,
    (SurveyStatus.VERIFIED, SurveyAction.RETURN): SurveyStatus.RETURNED,
    **{(s, SurveyAction.EDIT): SurveyStatus.COLLECTED for s in SurveyStatus},
}


class InvalidTransition(ValueError):
    pass


@dataclass(frozen=True)
class SurveyState:
    status: SurveyStatus = SurveyStatus.COLLECTED
    return_reason: str | None = None


def apply(state: SurveyState, action: SurveyAction, *, reason: str | None = None) -> SurveyState:
    """The next state, or :class:`InvalidTransition` saying what is allowed instead."""
    target = TRANSITIONS.get((state.status, action))
    if target is None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s is state.status and a is not SurveyAction.EDIT)
        raise InvalidTransition(
            f"Cannot {action.value} a record that is {state.status.value}; allowed: {', '.join(allowed) or 'edit only'}"
        )
    if action is SurveyAction.RETURN:
        if not reason or not reason.strip():
            raise InvalidTransition("A returned record needs a reason for the volunteer")
        return SurveyState(target, reason.strip())
    return SurveyState(target, None)
