"""Person bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.registry.schemas.common import (
    DobSource,
    Language,
    MaritalStatus,
    OptText200,
    Role,
    Sex,
    Text200,
    Version,
)
from services.registry.schemas.identifiers import IdentifierIn, IdentifierOut

Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)]
Disability = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _not_future(value: date | None) -> date | None:
    if value is not None and not date(1890, 1, 1) <= value <= date.today():
        raise ValueError("date of birth must be between 1890-01-01 and today")
    return value


class PersonFields(BaseModel):
    """Fields a surveyor records about a person (all optional on update)."""

    model_config = ConfigDict(extra="forbid")

    full_name: Text200 | None = Field(default=None, examples=["মোঃ আব্দুর রহিম"])
    name_latin: OptText200 = Field(default=None, examples=["Md. Abdur Rahim"])
    sex: Sex | None = None
    birth_date: date | None = None
    birth_date_estimated: bool | None = None
    birth_date_source: DobSource | None = None
    father_name: OptText200 = None
    mother_name: OptText200 = None
    spouse_name: OptText200 = Field(default=None, description="Husband's or wife's name (a married woman's guardian)")
    marital_status: MaritalStatus | None = Field(default=None, description="Widow and old-age schemes read it",
                                                 examples=["widowed"])
    disability: Disability | None = Field(default=None, description="Kind of disability, if any", examples=["visual"])
    pregnant: bool | None = None
    occupation: OptText200 = None
    phones: list[Phone] | None = Field(default=None, max_length=5)
    preferred_language: Language | None = Field(default=None, examples=["bn"])

    _dob = field_validator("birth_date")(_not_future)


class PersonCreate(PersonFields):
    full_name: Text200
    sex: Sex
    identifiers: list[IdentifierIn] = Field(default_factory=list, max_length=6)


class MemberCreate(PersonCreate):
    role: Role
    started_on: date | None = None
    client_ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")] | None = None


class PersonUpdate(PersonFields):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"base_version": 3, "spouse_name": "Md. Karim Sheikh", "occupation": "Tailor", "phones": ["01812000457"]},
        {"base_version": 2, "pregnant": True},
    ]})
    base_version: Version = Field(description="The version you edited; a stale one is a 409 conflict")


class DeathReport(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"deceased_on": "2026-11-18", "base_version": 4}]})

    deceased_on: date
    base_version: Version | None = None

    _date = field_validator("deceased_on")(_not_future)


class PersonOut(BaseModel):
    id: uuid.UUID
    area_code: str
    household_id: uuid.UUID | None
    role: str | None
    full_name: str
    name_latin: str | None
    sex: str
    birth_date: date | None
    birth_date_estimated: bool
    birth_date_source: str | None
    age: int | None
    father_name: str | None
    mother_name: str | None
    spouse_name: str | None = None
    marital_status: str | None = None
    disability: str | None
    pregnant: bool
    occupation: str | None
    phones: list[str]
    preferred_language: str | None
    status: str
    deceased_on: date | None
    merged_into: uuid.UUID | None
    version: int
    identifiers: list[IdentifierOut]
    created_at: datetime
    updated_at: datetime


class PersonSummary(BaseModel):
    """A person in a list: identifiers and phones masked."""

    id: uuid.UUID
    area_code: str
    household_id: uuid.UUID | None
    role: str | None
    full_name: str
    name_latin: str | None
    sex: str
    age: int | None
    age_estimated: bool
    status: str
    phones_masked: list[str]
    identifiers: list[IdentifierOut]
    version: int


class PersonPage(BaseModel):
    items: list[PersonSummary]
    total: int
    limit: int
    offset: int


class HistoryEntry(BaseModel):
    record_type: str
    record_id: uuid.UUID
    version: int | None
    action: str
    changes: dict[str, Any]
    reason: str | None
    changed_by: str
    changed_at: datetime


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
