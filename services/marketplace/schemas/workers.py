"""Vendors and workers."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from services.marketplace.schemas.common import AreaCode, Code, Language, Lat, Lon, Name, Phone, Text500

Member = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@\-]{1,128}$")]


class VendorIn(BaseModel):
    code: Code = Field(examples=["lko-home-services"])
    name: Name
    area_code: AreaCode
    contact_phone: Phone | None = None
    members: list[Member] = Field(default=[], max_length=50,
                                  description="Gateway subjects or client ids that act for the vendor")


class VendorOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    area_code: str
    contact_phone_masked: str | None
    status: str
    members: list[str]
    created_at: datetime
    version: int


class VendorStatus(BaseModel):
    status: Literal["active", "suspended"]


class ShiftIn(BaseModel):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    starts: time
    ends: time

    @model_validator(mode="after")
    def _order(self) -> ShiftIn:
        if self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        return self


class ShiftExceptionIn(BaseModel):
    on_date: date
    available: bool
    starts: time | None = None
    ends: time | None = None
    reason: Text500 | None = None

    @model_validator(mode="after")
    def _times(self) -> ShiftExceptionIn:
        if (self.starts is None) != (self.ends is None):
            raise ValueError("give both starts and ends, or neither")
        if self.starts is not None and self.ends is not None and self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        return self


class RegistryLink(BaseModel):
    person_id: uuid.UUID = Field(description="The worker's person record in the registry")
    identifier_type: Literal["aadhaar", "bd_nid", "bd_brn", "voter_id", "ration_card"]
    identifier_last4: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{4}$")]


class WorkerIn(BaseModel):
    vendor_id: uuid.UUID
    name: Name
    phone: Phone
    languages: list[Language] = Field(default=["hi"], max_length=10)
    home_area_code: AreaCode
    service_area_code: AreaCode
    home_lat: Lat
    home_lon: Lon
    service_radius_km: float = Field(default=15.0, gt=0, le=100)
    skills: list[Code] = Field(min_length=1, max_length=20)
    max_jobs: int = Field(default=1, ge=1, le=10)
    shifts: list[ShiftIn] = Field(default=[], max_length=50)
    operator_subject: Member | None = Field(default=None, description="The worker's own login, if any")
    registry_link: RegistryLink | None = None


class WorkerPatch(BaseModel):
    name: Name | None = None
    phone: Phone | None = None
    languages: list[Language] | None = Field(default=None, max_length=10)
    service_area_code: AreaCode | None = None
    service_radius_km: float | None = Field(default=None, gt=0, le=100)
    skills: list[Code] | None = Field(default=None, min_length=1, max_length=20)
    shifts: list[ShiftIn] | None = Field(default=None, max_length=50)
    status: Literal["active", "suspended"] | None = None
    max_jobs: int | None = Field(default=None, ge=1, le=10)


class Availability(BaseModel):
    available: bool
    lat: Lat | None = Field(default=None, description="A fresh position from the worker's app")
    lon: Lon | None = None

    @model_validator(mode="after")
    def _pair(self) -> Availability:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give lat and lon together")
        return self


class VerificationIn(BaseModel):
    kind: Literal["identity", "background_check", "skill_test"]
    status: Literal["pending", "passed", "failed"]
    verifier: Name
    verified_on: date
    category_code: Code | None = Field(default=None, description="The trade a skill test was for")
    reference: Text500 | None = None


class VerificationOut(VerificationIn):
    id: uuid.UUID


class WorkerOut(BaseModel):
    id: uuid.UUID
    vendor_id: uuid.UUID
    name: str
    phone_masked: str
    languages: list[str]
    home_area_code: str
    service_area_code: str
    home_lat: float
    home_lon: float
    lat: float
    lon: float
    service_radius_km: float
    available: bool
    status: str
    rating: float | None
    rating_count: int
    active_jobs: int
    max_jobs: int
    completed_jobs: int
    skills: list[str]
    shifts: list[ShiftIn]
    exceptions: list[ShiftExceptionIn]
    verifications: list[VerificationOut]
    registry_link: RegistryLink | None
    version: int


class MatchOut(BaseModel):
    worker_id: uuid.UUID
    vendor_id: uuid.UUID
    name: str
    distance_km: float
    rating: float | None
    active_jobs: int
    score: float = Field(description="Lower is better: km plus rating and load penalties")


class SearchOut(BaseModel):
    category_code: str
    radius_km: float
    items: list[MatchOut]
