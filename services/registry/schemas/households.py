"""Household bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from kernel.areas import AreaCodeStr
from services.registry.schemas.common import ClientRef, Reason, Role, Version
from services.registry.schemas.persons import MemberCreate, PersonCreate, PersonSummary

Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Latitude = Annotated[Decimal, Field(ge=-90, le=90, max_digits=9, decimal_places=6)]
Longitude = Annotated[Decimal, Field(ge=-180, le=180, max_digits=9, decimal_places=6)]


class _Gps(BaseModel):
    latitude: Latitude | None = None
    longitude: Longitude | None = None

    @model_validator(mode="after")
    def _pair(self) -> _Gps:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together")
        return self


class HouseholdCreate(_Gps):
    model_config = ConfigDict(extra="forbid")

    area_code: AreaCodeStr = Field(examples=["BD-40-87-90-54-08"])
    address: Address = Field(examples=["House 12, Nagarghata, Tala"])
    address_local: Address | None = None
    client_ref: ClientRef | None = Field(default=None, description="The collecting device's own id for the record")
    members: list[MemberCreate] = Field(default_factory=list, max_length=60)


class HouseholdUpdate(_Gps):
    model_config = ConfigDict(extra="forbid")

    base_version: Version
    area_code: AreaCodeStr | None = Field(default=None, description="A new area moves the household")
    address: Address | None = None
    address_local: Address | None = None
    status: Literal["active", "closed"] | None = None


class MemberAdd(BaseModel):
    """Add an existing person (``person_id``) or a new one (``person``) to a household."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    started_on: date | None = None
    person_id: uuid.UUID | None = None
    person: PersonCreate | None = None

    @model_validator(mode="after")
    def _one_of(self) -> MemberAdd:
        if (self.person_id is None) == (self.person is None):
            raise ValueError("give exactly one of person_id or person")
        return self


class MemberEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ended_on: date
    reason: Literal["moved_out", "married_out", "deceased", "recorded_in_error", "other"]


class SurveyDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["verify", "approve", "return"]
    reason: Reason | None = Field(default=None, description="Required when returning a record")
    base_version: Version | None = Field(default=None, description="The version you reviewed")


class MemberOut(PersonSummary):
    started_on: date | None


class HouseholdOut(BaseModel):
    id: uuid.UUID
    client_ref: str | None
    area_code: str
    address: str
    address_local: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    status: str
    survey_status: str
    return_reason: str | None
    collected_by: str | None
    verified_by: str | None
    verified_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    members: list[MemberOut]


class HouseholdSummary(BaseModel):
    id: uuid.UUID
    area_code: str
    address: str
    status: str
    survey_status: str
    return_reason: str | None
    member_count: int
    version: int


class HouseholdPage(BaseModel):
    items: list[HouseholdSummary]
    total: int
    limit: int
    offset: int
