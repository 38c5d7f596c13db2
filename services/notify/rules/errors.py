"""What to do after a provider error: retry later, stop for good, or opt the person out.

A 4xx is permanent (CHT PR #9559: an HTTP 400 retried forever), except the codes that mean
"slow down".  A request whose answer never came is ambiguous: the provider may hold the message,
so it is reconciled with the provider's list before anything is sent again.
"""

from __future__ import annotations

from enum import Enum

TRANSIENT_CODES = frozenset({20429, 20500, 20503, 21611, 30001, 63018})
OPT_OUT_CODES = frozenset({21610})


class Verdict(str, Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    OPT_OUT = "opt_out"
    AMBIGUOUS = "ambiguous"


def classify(http_status: int | None, code: int | None) -> Verdict:
    if http_status is None:
        return Verdict.AMBIGUOUS
    if code in OPT_OUT_CODES:
        return Verdict.OPT_OUT
    if code in TRANSIENT_CODES or http_status == 429 or http_status >= 500:
        return Verdict.TRANSIENT
    return Verdict.PERMANENT
