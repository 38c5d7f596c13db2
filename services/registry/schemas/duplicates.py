"""Possible-duplicate review bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.registry.schemas.common import Reason
from services.registry.schemas.persons import PersonSummary


class DuplicateOut(BaseModel):
    id: uuid.UUID
    reason: str
    details: dict[str, Any] = Field(description=(
        "Why the pair is here: the rule's own facts (id_type, birth_years, ...) and the matcher's view, "
        "match_probability and fields, each compared field with its level and weight (log2 m/u), e.g. "
        '{"field": "given_name", "level": "exact", "weight": 7.4}; see docs/matching.md'))
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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"survivor_id": "0192f3a4-5b6c-7d8e-9f00-112233445566",
         "note": "Same NID and father's name; registered twice, at the survey and by the import"}]})

    survivor_id: uuid.UUID
    note: Reason


class DismissDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"note": "Twin brothers: same parents and birth date, different NIDs"}]})

    note: Reason


class MergeOutcome(BaseModel):
    candidate: DuplicateOut
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    identifiers_moved: list[str]
    identifiers_kept_on_merged: list[str]
