"""Transparency reports, consents, a person's own history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.benefits.schemas.common import Text200
from services.benefits.schemas.ledger import EntryOut, IdentifierIn


class SummaryRow(BaseModel):
    area_code: str
    scheme_code: str
    period: str
    suppressed: bool = Field(description="Fewer beneficiaries than the threshold: counts and amounts withheld")
    beneficiaries: int | None
    entries: int | None
    amount_minor: int | None = Field(description="Net of reversals and recoveries, integer minor units")
    currency: str | None
    quantity: int | None
    unit: str | None


class Summary(BaseModel):
    area: str
    period: str | None
    threshold: int = Field(description="Cells with fewer beneficiaries than this are suppressed")
    rows: list[SummaryRow]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"identifier": {"type": "bd_nid", "value": "2698765432101"}, "purpose": "show my benefits in the app",
         "artefact_ref": "otp:2026-12-07:5521", "expires_at": "2027-06-30T23:59:59+06:00"}]})

    person_id: uuid.UUID | None = None
    identifier: IdentifierIn | None = None
    purpose: Text200
    artefact_ref: Text200 = Field(description="The signed form, OTP transaction or recording that holds the consent")
    expires_at: AwareDatetime


class ConsentOut(BaseModel):
    id: uuid.UUID
    person_id: uuid.UUID
    client_id: str
    purpose: str
    artefact_ref: str
    granted_at: datetime
    expires_at: datetime
    recorded_by: str
    revoked_at: datetime | None = Field(default=None, description="When the person withdrew it (history is then "
                                                                  "refused under it)")


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "withdrawn in the app"}]})

    reason: Text200 = Field(description="How the person withdrew it, e.g. 'in the app', 'by phone to the call "
                                        "centre'")


class HistoryOut(BaseModel):
    person_id: uuid.UUID
    consent_id: uuid.UUID
    records: list[uuid.UUID] = Field(description="Every registry record of this person (merged or linked)")
    items: list[EntryOut]
    total: int
    limit: int
    offset: int
    next: str | None = None


Kind = Literal["grant", "reversal", "recovery"]
