"""The broadcast duration planner: will the provider's queue hold the whole send?

send time = segments / segments-per-second.  A message waiting in the provider's queue longer than its
validity fails (Twilio 30001), so a send that would take longer than the validity must be paced from our
side (the dispatcher's rates) or spread across senders.  22,812 gram panchayats in Hindi (2 UCS-2 segments
each) at 1 segment/s take 12.7 h: longer than Twilio's 10 h queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    recipients: int
    segments_per_message: int
    total_segments: int
    segments_per_second: float
    seconds: float
    queue_validity_seconds: int
    fits: bool
    needed_segments_per_second: float
    senders_needed: int
    warning: str | None


def plan_send(recipients: int, segments_per_message: int, segments_per_second: float,
              queue_validity_seconds: int) -> Plan:
    total = recipients * segments_per_message
    seconds = total / segments_per_second
    fits = seconds <= queue_validity_seconds
    needed = total / queue_validity_seconds
    senders = max(1, math.ceil(needed / segments_per_second))
    warning = None if fits else (
        f"{total:,} segments at {segments_per_second:g}/s take {seconds / 3600:.1f} h, longer than the provider's "
        f"{queue_validity_seconds / 3600:g} h queue: messages would fail with 30001. Pace the send from our side "
        f"(queue it in waves) or use {senders} senders / at least {needed:.2f} segments/s.")
    return Plan(recipients, segments_per_message, total, segments_per_second, seconds, queue_validity_seconds, fits,
                needed, senders, warning)
