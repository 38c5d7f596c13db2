"""The ledger's hash chain: one chain per scheme and period, written in lanes (partitions).

Each entry's hash is SHA-256 over the previous entry's hash followed by the entry's canonical
content: every field that says what was given to whom, in a fixed order, each in PostgreSQL's
binary wire form (``uuid_send``, ``int8send``, ``date_send``, ``timestamptz_send``; text as its
UTF-8 byte length and bytes), a missing value marked so no two different rows give the same
bytes.  The database computes the same bytes in SQL (``repository/ledger.py``, ``CONTENT_SQL``)
to verify millions of rows without shipping them to Python: the binary form costs the database
about half of what formatting each field as text did.  A test keeps the two in step.

Changing a stored row breaks its own hash; rewriting the hash too breaks the link from the next
row; rewriting the whole tail breaks the chain head, whose hash is signed (Ed25519) by a key the
database does not hold.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

GENESIS = bytes(32)
# Order matters: it is part of the hash.  Each field with its PostgreSQL type.
CONTENT_TYPES = {
    "id": "uuid", "partition": "text", "seq": "int8", "kind": "text", "reverses_id": "uuid", "flag_id": "uuid",
    "scheme_code": "text", "department_code": "text", "rule_version": "int4", "beneficiary": "text",
    "person_id": "uuid", "household_id": "uuid", "identifier_hash": "text", "area_code": "text", "period": "text",
    "amount_minor": "int8", "currency": "text", "quantity": "int8", "unit": "text", "delivered_on": "date",
    "channel": "text", "recorded_by": "text", "department_ref": "text", "evidence_ref": "text", "decision": "text",
    "recorded_at": "timestamptz",
}
CONTENT_FIELDS = tuple(CONTENT_TYPES)
NULL_TEXT = b"\xff\xff\xff\xff"  # a text's length -1: missing (a real text has length >= 0)
NULL_VALUE, PRESENT = b"\x00", b"\x01"  # before a fixed-width value
_EPOCH_DAYS = date(2000, 1, 1).toordinal()  # PostgreSQL's date and time epoch
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_I4, _I8 = struct.Struct(">i"), struct.Struct(">q")


def _encode(kind: str, value: Any) -> bytes:
    if kind == "text":
        if value is None:
            return NULL_TEXT
        raw = str(value).encode()
        return _I4.pack(len(raw)) + raw
    if value is None:
        return NULL_VALUE
    if kind == "uuid":
        return PRESENT + value.bytes  # type: ignore[no-any-return]
    if kind == "int8":
        return PRESENT + _I8.pack(value)
    if kind == "int4":
        return PRESENT + _I4.pack(value)
    if kind == "date":
        return PRESENT + _I4.pack(value.toordinal() - _EPOCH_DAYS)
    delta = value - _EPOCH  # timestamptz: microseconds since 2000-01-01 UTC
    return PRESENT + _I8.pack((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


_ENCODERS = tuple(CONTENT_TYPES.items())


def content(row: Mapping[str, Any]) -> bytes:
    return b"".join([_encode(kind, row[name]) for name, kind in _ENCODERS])


def entry_hash(prev_hash: bytes, row: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + content(row)).digest()


def head_message(partition: str, seq: int, head_hash: bytes) -> bytes:
    """What the chain head's signature covers."""
    return f"{partition}|{seq}|{head_hash.hex()}".encode()
