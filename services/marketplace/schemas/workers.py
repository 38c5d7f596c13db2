"""Vendors and workers."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.marketplace.schemas.common import AreaCode, Code, Language, Lat, Lon, Name, Phone, Text500

Member = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@\-]{1,128}$")]


class VendorIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "lko-home-services", "name": "Lucknow Home Services Cooperative", "area_code": "IN-09-0162",
         "contact_phone": "+919812300077", "members": ["ramesh.lko", "cl_7a2b9c0d1e2f3a4b"]}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "suspended"}, {"status": "active"}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"on_date": "2026-12-25", "available": False, "reason": "Family wedding"},
        {"on_date": "2026-12-31", "available": True, "starts": "09:00", "ends": "13:00"},
    ]})

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


class RegistryLinkOut(RegistryLink):
    status: Literal["pending", "verified", "mismatch", "deceased"] = Field(description=(
        "Checked against the marketplace's copy of the registry: pending (the copy does not know the person "
        "yet), verified, mismatch (the registry lists no such identifier type for the person) or deceased"))
    checked_at: datetime | None = Field(description="When the copy last changed the status")
    registry_as_of: datetime | None = Field(description="When the newest registry event the copy applied happened")


class RegistryCopyOut(BaseModel):
    last_event_at: datetime | None = Field(description="When the newest registry event the copy applied happened")
    last_applied_at: datetime | None
    lag_seconds: float | None = Field(description="Now minus last_event_at (none before the first event)")
    current: bool = Field(description="lag_seconds within max_lag_seconds: unknown persons are refused, not pending")
    max_lag_seconds: int
    events_applied: int
    persons: int
    pending_links: int = Field(description="Workers whose link waits for the person's registry event")


class WorkerIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "vendor_id": "0192f3a4-5b6c-7d8e-9f00-112233445566", "name": "Mohd. Salim", "phone": "+919812300088",
        "languages": ["hi", "ur"], "home_area_code": "IN-09-0162-0820", "service_area_code": "IN-09-0162",
        "home_lat": 26.8467, "home_lon": 80.9462, "service_radius_km": 12, "skills": ["plumbing"], "max_jobs": 1,
        "shifts": [{"weekday": d, "starts": "09:00", "ends": "18:00"} for d in range(6)],
        "operator_subject": "salim.plumber"}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"skills": ["plumbing", "electrical"], "service_radius_km": 15},
        {"status": "suspended"},
    ]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"available": True, "lat": 26.8502, "lon": 80.9499}, {"available": False}]})

    available: bool
    lat: Lat | None = Field(default=None, description="A fresh position from the worker's app")
    lon: Lon | None = None

    @model_validator(mode="after")
    def _pair(self) -> Availability:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give lat and lon together")
        return self


class VerificationIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "skill_test", "status": "passed", "verifier": "ITI Aliganj, Lucknow", "verified_on": "2026-10-14",
         "category_code": "plumbing", "reference": "ITI/PLB/2026/0457"},
        {"kind": "background_check", "status": "pending", "verifier": "Lucknow Police", "verified_on": "2026-12-01"},
    ]})

    kind: Literal["identity", "background_check", "skill_test"]
    status: Literal["pending", "passed", "failed"]
    verifier: Name
    verified_on: date
    category_code: Code | None = Field(default=None, description="The trade a skill test was for")
    reference: Text500 | None = None


class VerificationOut(VerificationIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example

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
    registry_link: RegistryLinkOut | None
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
