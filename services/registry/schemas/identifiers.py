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
    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]


class LookupRequest(BaseModel):
    """Identifiers travel in the body, never in a URL (URLs end up in access logs)."""

    model_config = ConfigDict(extra="forbid")

    type: IdType
    value: IdValue
