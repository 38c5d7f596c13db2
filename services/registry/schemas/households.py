"""Household bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from kernel.areas import AreaCodeStr
from services.registry.schemas.common import ClientRef, IncomeBand, Reason, Role, Version
from services.registry.schemas.persons import MemberCreate, PersonCreate, PersonSummary

Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Latitude = Annotated[Decimal, Field(ge=-90, le=90, max_digits=9, decimal_places=6)]
Longitude = Annotated[Decimal, Field(ge=-180, le=180, max_digits=9, decimal_places=6)]


HEAD_EXAMPLE: dict[str, Any] = {
    "full_name": "মোছাঃ রহিমা খাতুন", "name_latin": "Mst. Rahima Khatun", "sex": "female", "role": "head",
    "birth_date": "1984-03-12", "birth_date_source": "nid", "father_name": "Md. Abul Hossain",
    "spouse_name": "Md. Karim Sheikh", "occupation": "Tailor", "phones": ["01700000001"],
    "preferred_language": "bn", "identifiers": [{"type": "bd_nid", "value": "19844087900012345"}],
}
CHILD_EXAMPLE: dict[str, Any] = {
    "full_name": "মোঃ আব্দুর রহিম", "name_latin": "Md. Abdur Rahim", "sex": "male", "role": "child",
    "birth_date": "2016-08-01", "birth_date_source": "brn", "father_name": "Md. Karim Sheikh",
    "mother_name": "Mst. Rahima Khatun",
    "identifiers": [{"type": "bd_brn", "value": "20164087900067890", "verification_method": "document_seen"}],
}


class _Gps(BaseModel):
    latitude: Latitude | None = None
    longitude: Longitude | None = None

    @model_validator(mode="after")
    def _pair(self) -> _Gps:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together")
        return self


class HouseholdCreate(_Gps):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "area_code": "BD-40-87-90-54-08", "address": "House 12, Nagarghata, Tala",
        "address_local": "বাড়ি ১২, নগরঘাটা, তালা", "latitude": 22.7531, "longitude": 89.2564,
        "client_ref": "tab-0042:hh-0007", "members": [HEAD_EXAMPLE, CHILD_EXAMPLE],
    }]})

    area_code: AreaCodeStr = Field(examples=["BD-40-87-90-54-08"])
    address: Address = Field(examples=["House 12, Nagarghata, Tala"])
    address_local: Address | None = None
    income_band: IncomeBand | None = Field(default=None, description="The survey's income or poverty band, e.g. "
                                           "bpl, aay, apl (India) or extreme_poor, poor, non_poor (Bangladesh)",
                                           examples=["poor"])
    client_ref: ClientRef | None = Field(default=None, description="The collecting device's own id for the record")
    members: list[MemberCreate] = Field(default_factory=list, max_length=60)


class HouseholdUpdate(_Gps):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base_version": 2, "address": "House 14, Nagarghata, Tala", "latitude": 22.7534, "longitude": 89.2561},
        {"base_version": 3, "area_code": "BD-40-87-90-54-07"},
    ]})

    base_version: Version
    area_code: AreaCodeStr | None = Field(default=None, description="A new area moves the household")
    address: Address | None = None
    address_local: Address | None = None
    income_band: IncomeBand | None = None
    status: Literal["active", "closed"] | None = None


class MemberAdd(BaseModel):
    """Add an existing person (``person_id``) or a new one (``person``) to a household."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"role": "grandchild", "started_on": "2026-10-02",
         "person": {"full_name": "আয়েশা আক্তার", "name_latin": "Ayesha Akter", "sex": "female",
                    "birth_date": "2026-10-02", "birth_date_source": "self_declared"}},
        {"role": "spouse", "person_id": "0192f3a4-5b6c-7d8e-9f00-112233445566", "started_on": "2026-11-20"},
    ]})

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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"ended_on": "2026-11-30", "reason": "married_out"}]})

    ended_on: date
    reason: Literal["moved_out", "married_out", "deceased", "recorded_in_error", "other"]


class SurveyDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "verify", "base_version": 1},
        {"action": "approve", "base_version": 2},
        {"action": "return", "reason": "The head's NID is missing; please ask to see the card", "base_version": 1},
    ]})

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
    income_band: str | None = None
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
