"""Coverage: who is eligible for which scheme and whether they receive it."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class SchemeCoverage(BaseModel):
    scheme: str
    names: dict[str, str]
    beneficiary: str
    period: str
    rule_version: int
    eligible: bool
    unknown_facts: list[str] = Field(description="Facts the registry copy lacks for a decisive answer")
    covered: bool
    entries: list[uuid.UUID] = Field(description="Live grants in the period (to any linked record)")


class PersonCoverage(BaseModel):
    person_id: uuid.UUID
    area_code: str
    household_id: uuid.UUID | None
    on: date
    registry_as_of: datetime | None = Field(description="occurred_at of the newest registry event in the copy")
    schemes: list[SchemeCoverage]


class HouseholdCoverage(BaseModel):
    household_id: uuid.UUID
    area_code: str
    member_count: int
    on: date
    registry_as_of: datetime | None
    schemes: list[SchemeCoverage] = Field(description="Household schemes (judged on the head and the household)")
    members: list[PersonCoverage]


class AreaCoverage(BaseModel):
    area: str
    scheme: str
    period: str
    rule_version: int
    persons: int = Field(description="Active persons (households for a household scheme) in the area and scheme")
    eligible: int
    eligible_covered: int
    eligible_not_covered: int
    covered_not_eligible: int
    registry_as_of: datetime | None
    gaps: str = Field(description="Gateway path of the door-to-door list (JSON; .csv for CSV)")


class GapPerson(BaseModel):
    person_id: uuid.UUID
    full_name: str
    area_code: str
    household_id: uuid.UUID | None
    sex: str
    birth_year: int | None
