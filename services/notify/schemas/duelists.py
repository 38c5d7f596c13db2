"""Due lists, doses and anganwadi workers."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from kernel.roles import ROLES
from services.notify.schemas.common import AreaCode, Language, Phone, ShortText

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9\-]{1,31}$")]


class DoseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"person_id": "0192f3a4-5b6c-7d8e-9f00-112233445566", "code": "penta-2", "given_on": "2026-12-05"}]})

    person_id: uuid.UUID
    code: Code = Field(examples=["penta-2"])
    given_on: date


class DoseRead(BaseModel):
    person_id: uuid.UUID
    code: str
    given_on: date
    recorded: bool = Field(description="False if this dose was already recorded (nothing changed)")
    reminders_cancelled: int


class DueItem(BaseModel):
    person_id: uuid.UUID
    name: str
    area_code: str
    target: str
    code: str
    vaccine: str
    dose: int
    due_on: date
    status: str = Field(description="due or overdue")
    days_overdue: int


class DueListPage(BaseModel):
    items: list[DueItem]
    total: int
    limit: int
    offset: int
    on: date
    schedule_version: str
    contacts_updated_at: str | None = Field(description="Newest registry change notify has applied (freshness)")


class WorkerUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Sunita Bai", "phone": "+919812300045", "area_code": "IN-23-0456-2210-123456", "language": "hi"}]})

    name: ShortText
    phone: Phone
    area_code: AreaCode
    language: Language = "hi"
    role: str = Field(default="anganwadi_worker", examples=["panchayat_secretary"],
                      description="A role of the role table (docs/roles.md): campaigns select functionaries by it")

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError("not a role of the role table (docs/roles.md)")
        return value


class WorkerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    area_code: str
    language: str
    role: str


class ScheduleItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    vaccine: ShortText
    dose: int = Field(ge=0, le=20)
    target: Literal["child", "pregnancy"]
    min_age_days: int = Field(ge=0, le=36_500)
    upper_age_days: int | None = Field(default=None, ge=0, le=36_500)
    predecessor: Code | None = None
    min_gap_days: int = Field(default=0, ge=0, le=3650)
    predecessor_before_age_days: int | None = Field(default=None, ge=0, le=36_500)
    lead_days: int = Field(default=7, ge=0, le=365)
    grace_days: int = Field(default=28, ge=0, le=3650)
    area_prefixes: list[AreaCode] | None = Field(default=None, max_length=100)


class ScheduleDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "version": "in-uip-2024.1", "name": "India Universal Immunisation Programme",
        "source": "MoHFW national immunisation schedule",
        "items": [
            {"code": "bcg", "vaccine": "BCG", "dose": 1, "target": "child", "min_age_days": 0, "upper_age_days": 365,
             "lead_days": 0, "grace_days": 14},
            {"code": "penta-1", "vaccine": "Pentavalent", "dose": 1, "target": "child", "min_age_days": 42,
             "upper_age_days": 365},
            {"code": "penta-2", "vaccine": "Pentavalent", "dose": 2, "target": "child", "min_age_days": 70,
             "upper_age_days": 365, "predecessor": "penta-1", "min_gap_days": 28},
            {"code": "td-1", "vaccine": "Td", "dose": 1, "target": "pregnancy", "min_age_days": 0, "grace_days": 56},
        ]}]})

    version: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.\-]{2,39}$")]
    name: ShortText
    source: ShortText | None = None
    items: list[ScheduleItemIn] = Field(min_length=1, max_length=200)


class ScheduleRead(BaseModel):
    version: str
    name: str
    active: bool
    source: str | None
    items: list[ScheduleItemIn] = []
