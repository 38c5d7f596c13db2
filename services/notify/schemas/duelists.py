"""Due lists, doses and anganwadi workers."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.notify.schemas.common import AreaCode, Language, Phone, ShortText

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9\-]{1,31}$")]


class DoseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="forbid")

    name: ShortText
    phone: Phone
    area_code: AreaCode
    language: Language = "hi"


class WorkerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    area_code: str
    language: str
