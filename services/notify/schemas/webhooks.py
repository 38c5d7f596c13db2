"""Webhook subscriptions, deliveries and attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.notify.schemas.common import AreaCode, Language, Phone, ShortText

EventPattern = Annotated[str, StringConstraints(min_length=3, max_length=120, pattern=r"^[a-z0-9_.*>]+$")]
Url = Annotated[str, StringConstraints(min_length=8, max_length=500, pattern=r"^[^\x00\s]+$")]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "url": "https://mis.example.gov.in/gramsetu/webhooks", "description": "District MIS: grievances",
        "event_types": ["tickets.ticket.*.v1"], "area_code": "IN-23-0456", "contact_phone": "+919812345678",
        "contact_language": "en"}]})

    url: Url = Field(description="HTTPS endpoint that receives signed POSTs")
    description: ShortText = Field(description="What this endpoint is (shown in the delivery log and the pause SMS)")
    event_types: list[EventPattern] = Field(min_length=1, max_length=20, description=(
        "Event subjects or NATS-style patterns over tickets, marketplace, benefits and notify events: "
        "`tickets.ticket.resolved.v1`, `tickets.ticket.*.v1`, `benefits.>`"))
    area_code: AreaCode = Field(description="Only events about this area or beneath it (inside your area scope)")
    contact_phone: Phone | None = Field(default=None, description="Told by SMS if the subscription is paused")
    contact_language: Language | None = None


class SubscriptionRead(BaseModel):
    id: uuid.UUID
    owner: str
    description: str
    url: str
    event_types: list[str]
    area_code: str
    status: str = Field(description="active, or paused (the endpoint kept failing; resume it)")
    paused_reason: str | None
    paused_at: datetime | None
    consecutive_failures: int
    retry_at: datetime | None = Field(description="A failing endpoint gets no attempt before this")
    previous_secret_until: datetime | None = Field(description="Until then deliveries carry a second "
                                                               "signature made with the rotated-out secret")
    contact_phone_masked: str | None
    deliveries: dict[str, int] = Field(default_factory=dict, description="Deliveries by status")
    created_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="The signing secret (`whsec_…`), shown only now: store it")


class SubscriptionPage(BaseModel):
    items: list[SubscriptionRead]
    total: int
    limit: int
    offset: int


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    effect_key: str
    uncertain: bool = Field(description="An earlier try of this key may have reached the endpoint")
    signed_at: int = Field(description="The webhook-timestamp sent")
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryRead(BaseModel):
    id: uuid.UUID
    webhook_id: str = Field(description="The webhook-id header: the same on every retry and redelivery")
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    lane: str = Field(description="Deliveries in one lane (the entity the event is about) arrive in order")
    entity_version: int | None
    status: str
    attempts: int
    redeliveries: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryDetail(DeliveryRead):
    payload: dict[str, Any]
    attempt_log: list[AttemptRead]


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    total: int
    limit: int
    offset: int
