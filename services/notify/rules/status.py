"""Forward-only message status: callbacks arrive late, twice or out of order, and never move a message back.

Ranks follow Twilio's life cycle (RapidPro courier's rule: ``failed`` and ``read`` are terminal).
Our own statuses before the provider (``pending``, ``attempting``) rank lowest; those that end a
message without the provider (``expired``, ``cancelled``, ``opted_out``, ``rejected``) are terminal.
"""

from __future__ import annotations

RANK: dict[str, int] = {
    "pending": 0, "attempting": 1,
    "accepted": 2, "scheduled": 2, "queued": 2, "initiated": 2,
    "sending": 3, "ringing": 3,
    "sent": 4, "in-progress": 4,
    "undelivered": 5, "no-answer": 5, "busy": 5,
    "delivered": 6, "completed": 6,
    "read": 7, "failed": 7, "canceled": 7,
    "expired": 7, "cancelled": 7, "opted_out": 7, "rejected": 7,
}
TERMINAL = frozenset({"read", "failed", "canceled", "expired", "cancelled", "opted_out", "rejected"})
FINAL_FOR_FUNNEL = {"delivered": "delivered", "completed": "delivered", "read": "delivered",
                    "undelivered": "failed", "failed": "failed", "no-answer": "failed", "busy": "failed"}
NOT_ARRIVED = frozenset({"undelivered", "failed", "no-answer", "busy"})


def advance(current: str, incoming: str) -> str:
    """The status after ``incoming`` is applied to a message at ``current``."""
    if incoming not in RANK or current in TERMINAL:
        return current
    return incoming if RANK[incoming] > RANK.get(current, 0) else current
