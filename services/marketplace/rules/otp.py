"""Start and completion codes: 4 digits the customer reads out to the worker.

Only a keyed hash is stored (HMAC over the booking id and the code's purpose), so a database
reader cannot start or close jobs; wrong tries are counted and the booking locks after
``MAX_FAILURES`` so 10,000 codes cannot be walked."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

MAX_FAILURES = 5
DIGITS = 4


def new_code() -> str:
    return f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"


def code_hash(key: str, booking_id: uuid.UUID, purpose: str, code: str) -> str:
    message = f"{booking_id}:{purpose}:{code}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def matches(key: str, booking_id: uuid.UUID, purpose: str, code: str, stored: str) -> bool:
    return hmac.compare_digest(code_hash(key, booking_id, purpose, code), stored)
