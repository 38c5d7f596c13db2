"""Identifier bodies.  Values go in; only masked forms come out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.registry.rules.identifiers import IdType

IdValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
VerificationMethod = Literal["self_declared", "document_seen", "dci_api", "biometric", "otp"]


class IdentifierIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"type": "bd_brn", "value": "20164087900067890", "verification_method": "document_seen"},
        {"type": "aadhaar", "value": "4983 7261 5405", "verification_method": "self_declared"},
    ]})

    type: IdType = Field(examples=["bd_brn"])
    value: IdValue = Field(examples=["19790912166100145"])
    verification_method: VerificationMethod = "self_declared"


class IdentifierOut(BaseModel):
    id: uuid.UUID
    type: str
    masked: str = Field(examples=["XXXX XXXX 1234"])
    form: str
    verification_method: str
    started_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None


class IdentifierEnd(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "Mistyped at the survey; the card shows another number"}]})

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]


class LookupRequest(BaseModel):
    """Identifiers travel in the body, never in a URL (URLs end up in access logs)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"type": "bd_nid", "value": "19844087900012345"},
        {"type": "aadhaar", "value": "498372615405"},
        {"type": "phone", "value": "+8801700000001"},
    ]})

    type: IdType
    value: IdValue
