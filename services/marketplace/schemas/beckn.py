"""Beckn subscriber entries and the immediate ACK/NACK answer."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SubscriberId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-/]{1,200}$")]


class Ack(BaseModel):
    message: dict[str, Any] = Field(examples=[{"ack": {"status": "ACK"}}])
    error: dict[str, Any] | None = Field(default=None, examples=[{"code": "30000", "paths": "context.domain",
                                                                  "message": "this BPP serves 'ONDC:SRV11'"}])


class SubscriberIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subscriber_id": "bap.citizen-app.example.in", "unique_key_id": "k1", "type": "BAP",
        "subscriber_url": "https://bap.citizen-app.example.in/beckn",
        "signing_public_key": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "status": "SUBSCRIBED",
        "valid_until": "2027-12-31T23:59:59+05:30"}]})

    subscriber_id: SubscriberId
    unique_key_id: SubscriberId
    type: Literal["BAP", "BPP", "BG"] = "BAP"
    subscriber_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s\x00]{1,500}$")]
    signing_public_key: str = Field(description="Base64 of the raw 32-byte Ed25519 public key")
    status: Literal["SUBSCRIBED", "UNSUBSCRIBED"] = "SUBSCRIBED"
    valid_until: datetime | None = None

    @field_validator("signing_public_key")
    @classmethod
    def _ed25519(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise ValueError("not base64") from exc
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return value


class SubscriberOut(SubscriberIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example
