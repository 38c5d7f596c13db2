"""Send requests, messages, their delivery log, opt-outs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.notify.schemas.common import AreaCode, Key, Language, Phone, ShortText, VarValue

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{8,200}$")]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"idempotency_key": "sehore-vacc-2026-12-14-0001", "template_key": "vaccination_due", "language": "hi",
         "to": "+919812345678", "area_code": "IN-23-0456-2210",
         "variables": {"child": "आरव", "vaccine": "पेंटावैलेंट-2", "date": "14 दिसंबर"}, "valid_for_minutes": 1440},
        {"idempotency_key": "flood-alert-BD-40-87-90-2026-12-07", "template_key": "flood_alert",
         "person_id": "0192f3a4-5b6c-7d8e-9f00-112233445566", "channel": "voice", "urgent": True},
    ]})

    idempotency_key: IdempotencyKey = Field(description="The same key never sends twice, whatever is retried")
    template_key: Key
    language: Language | None = Field(default=None, description="Default: the person's preferred language")
    to: Phone | None = None
    person_id: uuid.UUID | None = None
    area_code: AreaCode | None = Field(default=None, description="Needed with `to` (the person's own otherwise)")
    variables: dict[Key, VarValue] = Field(default_factory=dict, max_length=20)
    channel: Literal["auto", "sms", "voice"] = "auto"
    valid_for_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60,
                                          description="Dropped, not sent late, once this has passed")
    urgent: bool = Field(default=False, description="Ignore quiet hours (alerts that cannot wait)")

    @model_validator(mode="after")
    def _one_recipient(self) -> SendRequest:
        if (self.to is None) == (self.person_id is None):
            raise ValueError("give exactly one of `to` and `person_id`")
        if self.to is not None and self.area_code is None:
            raise ValueError("`area_code` is required with `to`")
        return self


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    idempotency_key: str
    channel: str
    source: str
    template_key: str
    language: str
    to_masked: str
    person_id: uuid.UUID | None
    area_code: str
    body: str
    encoding: str
    segments: int
    estimated_cost: float
    status: str
    provider_id: str | None
    attempts: int
    not_before: datetime
    valid_until: datetime | None
    error_code: int | None
    created_at: datetime
    fallback_of: uuid.UUID | None


class MessagePage(BaseModel):
    items: list[MessageRead]
    total: int
    limit: int
    offset: int


class MessageEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    status: str | None
    applied: bool
    detail: dict[str, Any]


class OptOutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"phone": "+8801700000001", "reason": "Asked at the union office to stop the reminder SMS"}]})

    phone: Phone
    person_id: uuid.UUID | None = None
    reason: ShortText = Field(description="What the person asked, in the operator's words")


class OptOutRead(BaseModel):
    phone_masked: str
    person_id: uuid.UUID | None
    source: str
    reason: str | None
    created_at: datetime


class OptOutPage(BaseModel):
    items: list[OptOutRead]
    total: int
    limit: int
    offset: int


__all__ = ["Language", "MessageEventRead", "MessagePage", "MessageRead", "OptOutCreate", "OptOutPage", "OptOutRead",
           "SendRequest", "VarValue"]


class ContactPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"prefers_voice": True, "time_zone": "Asia/Kolkata"}]})

    prefers_voice: bool = Field(description="Send calls instead of SMS (a person who cannot read)")
    time_zone: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]+/[A-Za-z_]+$")] | None = Field(
        default=None, description="IANA zone for quiet hours; default from the area (IST or Dhaka)")


class ContactRead(BaseModel):
    person_id: uuid.UUID
    area_code: str
    preferred_language: str | None
    prefers_voice: bool
    time_zone: str | None
    phones_masked: list[str]
