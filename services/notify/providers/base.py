"""The provider interface the dispatcher talks to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.notify.rules.errors import Verdict, classify


@dataclass(frozen=True)
class OutboundSms:
    to: str
    body: str
    status_callback: str | None
    validity_seconds: int | None = None
    sender: str | None = None  # a number or alphanumeric header; None: the messaging service


@dataclass(frozen=True)
class OutboundCall:
    to: str
    twiml: str
    status_callback: str | None


@dataclass(frozen=True)
class Accepted:
    provider_id: str
    status: str
    segments: int | None = None


@dataclass(frozen=True)
class SentMessage:
    """One row of the provider's own message list (what reconciliation compares with)."""

    provider_id: str
    to: str
    body: str
    status: str
    created_at: datetime | None


class ProviderError(Exception):
    """The provider refused or could not be reached. ``http_status`` None: no answer came (ambiguous)."""

    def __init__(self, message: str, *, http_status: int | None, code: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code

    @property
    def verdict(self) -> Verdict:
        return classify(self.http_status, self.code)


class Provider(Protocol):
    name: str

    async def send_sms(self, sms: OutboundSms) -> Accepted: ...

    async def place_call(self, call: OutboundCall) -> Accepted: ...

    async def sent_to(self, to: str, since: datetime) -> list[SentMessage]:
        """Messages the provider holds for this recipient created since ``since`` (newest first)."""
        ...

    def callback_is_genuine(self, url: str, params: Mapping[str, str], signature: str) -> bool: ...

    async def close(self) -> None: ...
