"""Quiet hours in the recipient's time zone, retry backoff, and message expiry."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

COUNTRY_ZONES = {"IN": "Asia/Kolkata", "BD": "Asia/Dhaka"}


def zone_for(area_code: str | None, explicit: str | None = None) -> ZoneInfo:
    if explicit:
        return ZoneInfo(explicit)
    return ZoneInfo(COUNTRY_ZONES.get((area_code or "IN")[:2].upper(), "Asia/Kolkata"))


def in_quiet_hours(moment: datetime, zone: ZoneInfo, start_hour: int, end_hour: int) -> bool:
    hour = moment.astimezone(zone).hour
    if start_hour == end_hour:
        return False
    if start_hour > end_hour:  # the window spans midnight, e.g. 21:00-08:00
        return hour >= start_hour or hour < end_hour
    return start_hour <= hour < end_hour


def next_allowed(moment: datetime, zone: ZoneInfo, start_hour: int, end_hour: int) -> datetime:
    """``moment`` itself outside the quiet window, else the window's end in the recipient's zone."""
    if not in_quiet_hours(moment, zone, start_hour, end_hour):
        return moment
    local = moment.astimezone(zone)
    end = datetime.combine(local.date(), time(end_hour), tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), time(end_hour), tzinfo=zone)
    return end.astimezone(moment.tzinfo)


def retry_delay(attempt: int, key: str, base: float, cap: float) -> float:
    """Exponential backoff with a jitter fixed by the message (replicas agree; no thundering herd)."""
    spread = int.from_bytes(hashlib.blake2b(f"{key}:{attempt}".encode(), digest_size=2).digest(), "big") / 65535
    return min(base * 2 ** max(attempt - 1, 0), cap) * (0.75 + 0.5 * spread)


def is_stale(now: datetime, valid_until: datetime | None) -> bool:
    return valid_until is not None and now >= valid_until
