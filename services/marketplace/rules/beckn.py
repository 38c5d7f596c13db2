"""Checks of a Beckn ``context`` (pure): what makes a request NACKed before anything else happens.

Error codes (BECKN-005 / ONDC): 10001 invalid signature; 30000 invalid request (a context field
missing or wrong, with its path); 30022-style staleness is reported as 30000 with the path
``context.timestamp``; 31001 internal error (the signer's key cannot be looked up right now)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kernel.paths import BECKN_ACTIONS

# The gateway forwards a BAP's own signature on exactly these actions' paths (kernel/paths.py).
ACTIONS = BECKN_ACTIONS
INVALID_SIGNATURE = "10001"
INVALID_REQUEST = "30000"
INTERNAL_ERROR = "31001"
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@dataclass(frozen=True)
class BecknError:
    code: str
    path: str
    message: str

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "paths": self.path, "message": self.message}


@dataclass(frozen=True)
class Expect:
    domain: str
    version: str
    country: str
    bpp_id: str
    bpp_uri: str
    max_skew: timedelta


def ttl_seconds(value: str) -> int | None:
    match = _DURATION.match(value)
    if not match or value in ("P", "PT"):
        return None
    d, h, m, s = (int(x or 0) for x in match.groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time with a zone, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def check_context(context: Any, action: str, expect: Expect, now: datetime) -> list[BecknError]:
    """Every problem with the context, each with its path; empty when the request may proceed."""
    if not isinstance(context, dict):
        return [BecknError(INVALID_REQUEST, "context", "context is missing or not an object")]
    errors: list[BecknError] = []

    def bad(field: str, message: str) -> None:
        errors.append(BecknError(INVALID_REQUEST, f"context.{field}", message))

    if context.get("action") != action:
        bad("action", f"must be {action!r} on /{action}")
    if context.get("domain") != expect.domain:
        bad("domain", f"this BPP serves {expect.domain!r}")
    if context.get("version") != expect.version:
        bad("version", f"this BPP speaks Beckn {expect.version}")
    location = context.get("location")
    country = location.get("country", {}).get("code") if isinstance(location, dict) else None
    city = location.get("city", {}).get("code") if isinstance(location, dict) else None
    if country != expect.country:
        bad("location.country.code", f"must be {expect.country!r}")
    if not isinstance(city, str) or not city:
        bad("location.city.code", "a city code (e.g. std:0522) is required")
    for field in ("bap_id", "bap_uri"):
        if not isinstance(context.get(field), str) or not context.get(field):
            bad(field, "required")
    if isinstance(context.get("bap_uri"), str) and not re.match(r"^https?://", context["bap_uri"]):
        bad("bap_uri", "must be an http(s) URL")
    if action != "search" and context.get("bpp_id") != expect.bpp_id:
        bad("bpp_id", f"must be {expect.bpp_id!r}")
    for field in ("transaction_id", "message_id"):
        if not _is_uuid(context.get(field)):
            bad(field, "must be a UUID")
    moment = parse_time(context.get("timestamp"))
    ttl = ttl_seconds(context["ttl"]) if isinstance(context.get("ttl"), str) else None
    if moment is None:
        bad("timestamp", "must be an RFC 3339 time with a zone")
    elif moment > now + expect.max_skew:
        bad("timestamp", "is in the future")
    elif now - moment > expect.max_skew + timedelta(seconds=ttl or 0):
        bad("timestamp", "the request is stale (older than its ttl)")
    if context.get("ttl") is not None and ttl is None:
        bad("ttl", "must be an ISO 8601 duration such as PT30S")
    return errors
