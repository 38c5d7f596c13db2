"""Event rules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.notify.schemas.common import Key, ShortText

FieldPath = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,39}(\.[a-z_][a-z0-9_]{0,39}){0,3}$")]
# One field, or several joined by "+" when one field alone does not name the business fact (a booking is
# assigned again to another worker after a withdrawal: booking_id+worker_id).
_PATH = r"[a-z_][a-z0-9_]{0,39}(\.[a-z_][a-z0-9_]{0,39}){0,3}"
KeyPaths = Annotated[str, StringConstraints(pattern=rf"^{_PATH}(\+{_PATH}){{0,3}}$")]
Subject = Annotated[str, StringConstraints(pattern=r"^(tickets|marketplace|benefits)\.[a-z_]+\.[a-z_]+\.v[0-9]+$")]


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "ticket-resolved-sms", "subject": "tickets.ticket.resolved.v1", "template_key": "grievance_resolved",
         "phone_field": "notify_phone", "language_field": "language", "key_field": "idempotency_key",
         "variables": {"ticket": "tracking_number"}, "constants": {"phone": "1800-180-0000"}}]})

    name: Key = Field(examples=["ticket-resolved-sms"])
    subject: Subject = Field(examples=["tickets.ticket.resolved.v1"])
    template_key: Key
    phone_field: FieldPath | None = Field(default=None, examples=["notify_phone"])
    person_field: FieldPath | None = None
    language_field: FieldPath | None = Field(default=None, examples=["language"])
    key_field: KeyPaths | None = Field(default=None, examples=["idempotency_key", "booking_id+worker_id"])
    variables: dict[Key, FieldPath] = Field(default_factory=dict, max_length=20,
                                            examples=[{"ticket": "tracking_number"}])
    constants: dict[Key, ShortText] = Field(default_factory=dict, max_length=20)
    urgent: bool = False
    valid_for_minutes: int = Field(default=1440, ge=1, le=7 * 24 * 60)
    enabled: bool = True

    @model_validator(mode="after")
    def _one_recipient(self) -> RuleCreate:
        if (self.phone_field is None) == (self.person_field is None):
            raise ValueError("give exactly one of phone_field and person_field")
        return self


class RuleRead(RuleCreate):
    model_config = ConfigDict(from_attributes=True, extra="ignore", json_schema_extra=None)

    id: uuid.UUID
    created_at: datetime


class RulePage(BaseModel):
    items: list[RuleRead]
    total: int
    limit: int
    offset: int
