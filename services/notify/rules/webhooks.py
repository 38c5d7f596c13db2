"""Webhook rules with no I/O: the signature scheme, secrets, event-type patterns, ordering lanes, backoff.

**Signature** (the Standard Webhooks scheme, https://www.standardwebhooks.com): every delivery carries

* ``webhook-id``: ``msg_<delivery id>``, the same on every retry and on a redelivery asked for by the
  owner, so the receiver can drop a copy it has already processed (the receiver's idempotency key);
* ``webhook-timestamp``: Unix seconds when this attempt was signed;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``, where ``key`` is the
  base64-decoded part of the subscription's secret ``whsec_<base64>``.  While a rotated-out secret is
  still honoured, a second ``v1,…`` signature made with it follows, separated by a space.

A receiver recomputes the signature over the raw body, compares in constant time, and refuses a
timestamp more than five minutes from its own clock (a captured request cannot be replayed later).
Any Standard Webhooks library verifies these deliveries; the tests use the reference Python one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
TOLERANCE_SECONDS = 300
# Retry schedule after the first attempt (Standard Webhooks' suggestion, shortened at the start):
# 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.  The delivery fails for good after the last one.
RETRY_SCHEDULE_SECONDS = (5, 60, 300, 1800, 7200, 18000, 36000, 36000)
PATTERN_SHAPE = re.compile(r"^[a-z]+(\.([a-z0-9_]+|\*))*(\.>)?$")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    body = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(body + "==")


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(signature(s, msg_id, timestamp, body) for s in secrets_)


def verify(secret: str, headers: dict[str, str], body: bytes, now: datetime) -> bool:
    """What a receiver does (used by our own self-test endpoint and documented as the reference)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, sigs = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not (msg_id and stamp and sigs) or not stamp.isdigit():
        return False
    if abs(now.timestamp() - int(stamp)) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, msg_id, int(stamp), body)
    return any(hmac.compare_digest(expected, given) for given in sigs.split(" "))


def valid_pattern(pattern: str) -> bool:
    """``tickets.ticket.created.v1``, ``tickets.ticket.*.v1`` or ``tickets.>`` (NATS subject wildcards)."""
    return bool(PATTERN_SHAPE.match(pattern)) and len(pattern) <= 120


def matches(pattern: str, subject: str) -> bool:
    """NATS semantics: ``*`` is exactly one token, a final ``>`` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, part in enumerate(want):
        if part == ">":
            return len(have) > i
        if i >= len(have) or (part != "*" and part != have[i]):
            return False
    return len(want) == len(have)


def lane_of(subject: str, data: dict[str, Any], envelope_entity: str | None) -> str | None:
    """The entity deliveries are ordered by (``ticket:<id>``), or None when the event names none."""
    if envelope_entity:
        return envelope_entity
    parts = subject.split(".")
    if len(parts) < 2:
        return None
    entity = parts[1]
    for name in (f"{entity}_id", "code"):
        value = data.get(name)
        if isinstance(value, (str, int)) and str(value):
            return f"{entity}:{value}"
    return None


def retry_delay(failed_attempts: int) -> int | None:
    """Seconds before the next attempt after ``failed_attempts`` failures; None when it is time to give up."""
    if failed_attempts < 1:
        return 0
    if failed_attempts > len(RETRY_SCHEDULE_SECONDS):
        return None
    return RETRY_SCHEDULE_SECONDS[failed_attempts - 1]


def endpoint_backoff(consecutive_failures: int, cap_seconds: int = 3600) -> int:
    """How long a failing endpoint gets no new attempt at all (one probe at a time after that)."""
    if consecutive_failures < 1:
        return 0
    return min(5 * 2 ** (consecutive_failures - 1), cap_seconds)


def permanent(status: int | None) -> bool:
    """410 Gone: the receiver says the endpoint no longer exists (the subscription is paused at once)."""
    return status == 410
