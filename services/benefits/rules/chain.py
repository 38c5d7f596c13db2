"""The ledger's hash chain: one chain per partition (scheme and period).

Each entry's hash is SHA-256 over the previous entry's hash followed by the entry's canonical
content: every field that says what was given to whom, each written as ``<length>:<text>`` (``-``
for a missing value), so no two different rows produce the same text.  The database recomputes
the same text in SQL (``repository/ledger.py``, ``CONTENT_SQL``) to verify millions of rows
without shipping them to Python; a test keeps the two in step.

Changing a stored row breaks its own hash; rewriting the hash too breaks the link from the next
row; rewriting the whole tail breaks the chain head, whose hash is signed (Ed25519) by a key the
database does not hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

GENESIS = bytes(32)
# Order matters: it is part of the hash.  Dates as YYYY-MM-DD, times as UTC with microseconds.
CONTENT_FIELDS = (
    "id", "partition", "seq", "kind", "reverses_id", "flag_id", "scheme_code", "department_code",
    "rule_version", "beneficiary", "person_id", "household_id", "identifier_hash", "area_code", "period",
    "amount_minor", "currency", "quantity", "unit", "delivered_on", "channel", "recorded_by",
    "department_ref", "evidence_ref", "decision", "recorded_at",
)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        text = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    elif isinstance(value, date):
        text = value.strftime("%Y-%m-%d")
    else:
        text = str(value)
    return f"{len(text)}:{text}"


def content(row: Mapping[str, Any]) -> str:
    return "".join(_text(row[name]) for name in CONTENT_FIELDS)


def entry_hash(prev_hash: bytes, row: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + content(row).encode()).digest()


def head_message(partition: str, seq: int, head_hash: bytes) -> bytes:
    """What the chain head's signature covers."""
    return f"{partition}|{seq}|{head_hash.hex()}".encode()
