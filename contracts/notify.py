"""Events published by the notify service."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from contracts.base import Event


class MessageFinal(Event):
    """Common payload: a message reached a final state.  Phone numbers never travel on the bus."""

    message_id: uuid.UUID
    idempotency_key: str
    channel: Literal["sms", "voice"]
    template_key: str
    area_code: str
    person_id: uuid.UUID | None
    status: str = Field(description="Provider or local final status, e.g. delivered, undelivered, failed, expired")
    error_code: int | None = None


class MessageDelivered(MessageFinal):
    """The provider reported the SMS delivered or the call answered and completed."""

    subject = "notify.message.delivered.v1"


class MessageFailed(MessageFinal):
    """The message did not arrive: undelivered, failed, refused, expired unsent or cancelled by an opt-out."""

    subject = "notify.message.failed.v1"


class OptOutRecorded(Event):
    """A person asked to receive no more messages (voice keypress, missed call, operator, or the provider said so)."""

    subject = "notify.optout.recorded.v1"
    source: Literal["voice_keypress", "missed_call", "operator", "provider"]
    person_id: uuid.UUID | None
    area_code: str | None
    phone_last4: str = Field(description="Last four digits only, for display")


class DoseRecorded(Event):
    """A vaccine dose was recorded for a child or a pregnant woman; its pending reminders were cancelled."""

    subject = "notify.dose.recorded.v1"
    person_id: uuid.UUID
    code: str = Field(description="Schedule item code, e.g. penta-2")
    given_on: date
    reminders_cancelled: int


class WebhookPaused(Event):
    """A partner's webhook subscription was paused: its endpoint kept failing (or answered 410 Gone).
    Deliveries wait (nothing is dropped) until the owner resumes it."""

    subject = "notify.webhook.paused.v1"
    subscription_id: uuid.UUID
    owner: str = Field(description="The client or operator that created the subscription")
    area_code: str
    reason: str
    consecutive_failures: int
