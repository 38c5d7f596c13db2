"""Posting entries, reversals and what the ledger answers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.benefits.schemas.common import AreaCode, Code, FieldError, OptText500, Reason, Ref

Channel = Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,30}$")]


class IdentifierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["aadhaar", "bd_nid", "bd_brn", "ration_card", "voter_id", "phone"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class EntryIn(BaseModel):
    """One benefit given.  Name the person by ``person_id`` (the registry's id) or ``identifier``; for a
    household scheme, by ``household_id`` (or a member).  Amounts are integer minor units."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "scheme": "BD-OAA", "identifier": {"type": "bd_nid", "value": "2698765432101"}, "period": "2026-11",
        "amount_minor": 60000, "currency": "BDT", "delivered_on": "2026-11-05", "channel": "mobile_money",
        "department_ref": "DSS-TALA-2026-11-000123", "evidence_ref": "bkash:TX8841"}]})

    scheme: Code
    person_id: uuid.UUID | None = None
    identifier: IdentifierIn | None = None
    household_id: uuid.UUID | None = None
    area_code: AreaCode | None = Field(default=None, description="Where it was given; required only when the "
                                       "person is not in the registry copy and the scheme holds such entries")
    period: Annotated[str, StringConstraints(min_length=1, max_length=10)]
    amount_minor: int | None = Field(default=None, gt=0, le=10**13, description="Integer minor units (paise/poisha)")
    currency: Literal["INR", "BDT"] | None = None
    quantity: int | None = Field(default=None, gt=0, le=10**9, description="Integer quantity in the scheme's unit")
    unit: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}$")] | None = None
    delivered_on: date
    channel: Channel
    department_ref: Ref = Field(description="The department's own reference: posting it again changes nothing")
    evidence_ref: OptText500 = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"entries": [
        {"scheme": "BD-OAA", "identifier": {"type": "bd_nid", "value": "2698765432101"}, "period": "2026-11",
         "amount_minor": 60000, "currency": "BDT", "delivered_on": "2026-11-05", "channel": "mobile_money",
         "department_ref": "DSS-TALA-2026-11-000123"},
        {"scheme": "BD-OAA", "person_id": "0192f3a4-5b6c-7d8e-9f00-112233445566", "period": "2026-11",
         "amount_minor": 60000, "currency": "BDT", "delivered_on": "2026-11-05", "channel": "mobile_money",
         "department_ref": "DSS-TALA-2026-11-000124", "evidence_ref": "bkash:TX8842"},
    ]}]})

    entries: list[EntryIn] = Field(min_length=1, max_length=5000)


class ReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "Paid twice by the bank; the second transfer was returned",
         "department_ref": "DSS-TALA-2026-11-000123-R1"}]})

    reason: Reason
    department_ref: Ref | None = Field(default=None, description="Reference of the correction; again = no change")


class EntryOut(BaseModel):
    id: uuid.UUID
    kind: Literal["grant", "reversal", "recovery"]
    reverses_id: uuid.UUID | None
    partition: str
    seq: int
    hash: str
    scheme_code: str
    department_code: str
    rule_version: int
    beneficiary: str
    person_id: uuid.UUID | None
    household_id: uuid.UUID | None
    area_code: str
    period: str
    amount_minor: int | None
    currency: str | None
    quantity: int | None
    unit: str | None
    delivered_on: date
    channel: str
    recorded_by: str
    department_ref: str | None
    evidence_ref: str | None
    decision: Literal["accepted", "held"]
    recorded_at: datetime


class Outcome(BaseModel):
    index: int = Field(description="Position in the batch (0-based) or the file's row number")
    status: Literal["accepted", "held", "rejected", "repeated"]
    code: str | None = Field(default=None, description="Why it was rejected: invalid, unknown_scheme, forbidden, "
                             "conflict, double_dipping, deceased (a period after the person's recorded death), "
                             "unknown_person")
    entry_id: uuid.UUID | None = None
    flags: list[uuid.UUID] = Field(default_factory=list)
    errors: list[FieldError] = Field(default_factory=list)
    evidence: dict[str, Any] | None = None


class BatchOut(BaseModel):
    accepted: int
    held: int
    rejected: int
    repeated: int
    outcomes: list[Outcome]
