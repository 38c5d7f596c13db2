"""Possible-duplicate review bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.registry.schemas.common import Reason
from services.registry.schemas.persons import PersonSummary


class DuplicateOut(BaseModel):
    id: uuid.UUID
    reason: str
    details: dict[str, Any]
    status: str
    area_code: str
    person_a: PersonSummary
    person_b: PersonSummary
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    survivor_id: uuid.UUID | None


class DuplicatePage(BaseModel):
    items: list[DuplicateOut]
    total: int
    limit: int
    offset: int


class MergeDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    survivor_id: uuid.UUID
    note: Reason


class DismissDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Reason


class MergeOutcome(BaseModel):
    candidate: DuplicateOut
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    identifiers_moved: list[str]
    identifiers_kept_on_merged: list[str]
