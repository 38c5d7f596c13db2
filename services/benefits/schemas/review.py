"""Flags, decisions, chain verification and the registry copy's freshness."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.benefits.schemas.common import Reason


class FlagOut(BaseModel):
    id: uuid.UUID
    entry_id: uuid.UUID
    kind: str
    rule: str
    scheme_code: str
    rule_version: int
    area_code: str
    other_entry_ids: list[uuid.UUID]
    evidence: dict[str, Any]
    source: str
    status: str
    raised_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    recovery_entry_id: uuid.UUID | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "confirm", "reason": "Same woman registered in two unions; both paid widow allowance in November"},
        {"decision": "dismiss", "reason": "Different people: mother and daughter share the name, NIDs differ"},
    ]})

    decision: Literal["confirm", "dismiss"] = Field(description="confirm: a recovery entry is recorded")
    reason: Reason


class PartitionOut(BaseModel):
    partition: str
    entries: int
    intact: bool
    first_broken_seq: int | None
    problems: list[str]


class VerifyOut(BaseModel):
    intact: bool
    entries: int
    partitions_checked: int
    broken: list[PartitionOut] = Field(description="Only the partitions that are not intact")
    seconds: float
    public_key: dict[str, str]


class RegistryCopyOut(BaseModel):
    last_event_at: datetime | None = Field(description="occurred_at of the newest registry event applied")
    last_applied_at: datetime | None
    lag_seconds: float | None = Field(description="Now minus last_event_at")
    events_applied: int
    persons: int
    households: int
    active_links: int
