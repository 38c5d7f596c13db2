"""Query bodies: lookups, priority lists, the age check and statistics."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.registry.schemas.identifiers import LookupRequest


class AgeCheckRequest(BaseModel):
    """Name the person by an identifier or by id."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"identifier": {"type": "bd_brn", "value": "20084087900054321"}},
        {"person_id": "0192f3a4-5b6c-7d8e-9f00-112233445566"},
    ]})

    identifier: LookupRequest | None = None
    person_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_of(self) -> AgeCheckRequest:
        if (self.identifier is None) == (self.person_id is None):
            raise ValueError("give exactly one of identifier or person_id")
        return self


class AgeCheckOut(BaseModel):
    """Only the answer and its basis: no name, no date of birth, no record id."""

    answer: Literal["yes", "no", "unknown"]
    legal_age: int | None
    evidence: list[str]
    checked_on: date


PriorityReason = Literal["elderly", "disability", "pregnant", "under_five", "single_woman_head"]


class PriorityEntry(BaseModel):
    household_id: uuid.UUID | None
    address: str | None
    person_id: uuid.UUID
    full_name: str
    sex: str
    age: int | None
    age_estimated: bool
    reasons: list[PriorityReason]
    phones_masked: list[str]


class PriorityList(BaseModel):
    area_code: str
    as_of: date
    counts: dict[str, int]
    items: list[PriorityEntry]


class Cell(BaseModel):
    value: int | None = Field(description="None when suppressed")
    suppressed: bool


class Coverage(BaseModel):
    persons: Cell
    share: float | None


class Statistics(BaseModel):
    area_code: str
    k: int = Field(description="Cells counting fewer than k persons are suppressed")
    households: Cell
    population: Cell
    by_sex_and_age: dict[str, dict[str, Cell]]
    identifier_coverage: dict[str, Coverage]
