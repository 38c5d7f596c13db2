"""The stand-in's memory: accounts, messages, calls, and the behaviours tests switch on."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from services.notify.twilio_standin.behaviours import (
    DEFAULT_CALL_OUTCOMES,
    DEFAULT_SMS_OUTCOMES,
    SMS_ERROR_MESSAGES,
    Outcome,
)

API_VERSION = "2010-04-01"


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: float | None) -> str | None:
    if moment is None:
        return None
    stamp = datetime.fromtimestamp(moment, timezone.utc).replace(microsecond=0)
    return format_datetime(stamp).replace("-0000", "+0000")


def segments_of(body: str) -> int:
    """Twilio's count: GSM-7 160/153, otherwise UCS-2 70/67 (extension characters count twice)."""
    from services.notify.rules.encoding import encode_info

    return encode_info(body).segments


@dataclass
class Config:
    """What a test or the bench can change at run time (``POST /_standin/config``)."""

    callbacks: bool = True
    callback_order: str = "in_order"  # or "reversed": the final status arrives before "sent"
    sent_delay: float = 0.05  # seconds from acceptance to "sent"
    delivery_delay: float = 0.05  # seconds from "sent" to the final status
    sender_mps: float = 0.0  # messages per second a sender drains (0: no queue)
    queue_capacity: int = 100_000  # messages waiting per sender before 21611
    fail_next: list[dict[str, int]] = field(default_factory=list)  # transient answers for the next creates
    delay_next: list[float] = field(default_factory=list)  # accept, then answer this many seconds late


@dataclass
class Record:
    kind: str  # "message" or "call"
    sid: str
    account_sid: str
    to: str
    from_: str
    created: float
    params: dict[str, str]
    status: str
    outcome: Outcome
    status_callback: str | None
    messaging_service_sid: str | None = None
    body: str = ""
    twiml: str | None = None
    sent_at: float | None = None
    updated: float = 0.0
    error_code: int | None = None
    history: list[str] = field(default_factory=list)
    callbacks_sent: list[dict[str, Any]] = field(default_factory=list)

    def message_json(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"
        return {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": self.body,
            "date_created": rfc2822(self.created), "date_sent": rfc2822(self.sent_at),
            "date_updated": rfc2822(self.updated or self.created), "direction": "outbound-api",
            "error_code": self.error_code, "error_message": SMS_ERROR_MESSAGES.get(self.error_code or 0),
            "from": self.from_, "messaging_service_sid": self.messaging_service_sid, "num_media": "0",
            "num_segments": str(segments_of(self.body)), "price": None, "price_unit": "USD", "sid": self.sid,
            "status": self.status, "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": self.to, "uri": uri,
        }

    def call_json(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"
        return {
            "account_sid": self.account_sid, "annotation": None, "answered_by": None, "api_version": API_VERSION,
            "caller_name": None, "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.updated or self.created),
            "direction": "outbound-api", "duration": None, "end_time": None, "forwarded_from": None,
            "from": self.from_, "from_formatted": self.from_, "group_sid": None, "parent_call_sid": None,
            "phone_number_sid": None, "price": None, "price_unit": "USD", "queue_time": "0", "sid": self.sid,
            "start_time": None, "status": self.status, "subresource_uris": {}, "to": self.to,
            "to_formatted": self.to, "trunk_sid": None, "uri": uri,
        }


class StandinState:
    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts  # account sid -> auth token
        self.config = Config()
        self.records: dict[str, Record] = {}
        self.order: list[str] = []  # creation order, for newest-first lists
        self.sms_outcomes: dict[str, Outcome] = dict(DEFAULT_SMS_OUTCOMES)
        self.call_outcomes: dict[str, Outcome] = dict(DEFAULT_CALL_OUTCOMES)
        self.sender_free_at: dict[str, float] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.create_requests = 0

    def reset(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        self.config = Config()
        self.records.clear()
        self.order.clear()
        self.sms_outcomes = dict(DEFAULT_SMS_OUTCOMES)
        self.call_outcomes = dict(DEFAULT_CALL_OUTCOMES)
        self.sender_free_at.clear()
        self.create_requests = 0

    def add(self, record: Record) -> None:
        self.records[record.sid] = record
        self.order.append(record.sid)
        record.history.append(record.status)

    def waiting(self, sender: str, now: float) -> int:
        """Messages of this sender accepted but not yet sent (its queue)."""
        if not self.config.sender_mps:
            return 0
        free_at = self.sender_free_at.get(sender, now)
        return max(int((free_at - now) * self.config.sender_mps), 0)

    def slot(self, sender: str, now: float) -> float:
        """When this sender's queue sends the next message."""
        if not self.config.sender_mps:
            return now
        at = max(self.sender_free_at.get(sender, now), now)
        self.sender_free_at[sender] = at + 1.0 / self.config.sender_mps
        return at

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def now(self) -> float:
        return time.time()
