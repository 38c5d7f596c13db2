"""Desks, agents, calendars and SLA policies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from services.tickets.rules.calendar import parse_hours
from services.tickets.schemas.common import AreaCode, Category, Name, Subject

HourRange = Annotated[list[Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]],
                      Field(min_length=2, max_length=2)]
TimeZone = Literal["Asia/Kolkata", "Asia/Dhaka", "UTC"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAY: dict[Weekday, list[list[str]]] = {
    d: [["10:00", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}  # type: ignore[misc]


class CalendarIn(BaseModel):
    name: Name = Field(examples=["Madhya Pradesh government offices"])
    timezone: TimeZone = "Asia/Kolkata"
    working_hours: dict[Weekday, Annotated[list[HourRange], Field(max_length=4)]] = Field(
        default_factory=lambda: dict(WORKDAY),
        description="Local working ranges per weekday (HH:MM, 24-hour; a range may not cross midnight)")
    saturdays_off: list[Annotated[int, Field(ge=1, le=5)]] = Field(
        default_factory=lambda: [2, 4], max_length=5, description="Which Saturdays of the month are off")
    parent_id: uuid.UUID | None = Field(None, description="A national calendar whose holidays apply too")

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
        parse_hours(value)
        return value


class CalendarOut(CalendarIn):
    id: uuid.UUID
    created_at: datetime


class HolidayIn(BaseModel):
    day: date
    name: Name
    kind: Literal["national", "state", "local"] = "state"


class HolidayOut(HolidayIn):
    calendar_id: uuid.UUID


class DeskIn(BaseModel):
    name: Name = Field(examples=["Sehore block ICDS help desk"])
    area_code: AreaCode
    categories: list[Category] = Field(default_factory=list, max_length=20,
                                       description="Categories it takes; empty = every category")
    calendar_id: uuid.UUID


class DeskOut(DeskIn):
    id: uuid.UUID
    level: str = Field(description="block, district, state (India) or upazila, district, division (Bangladesh)")
    active: bool
    created_at: datetime


class AgentIn(BaseModel):
    subject: Subject = Field(description="The agent's user name at the gateway")
    display_name: Name


class AgentOut(AgentIn):
    id: uuid.UUID
    desk_id: uuid.UUID
    active: bool


class SlaPolicyIn(BaseModel):
    level: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")] = Field(examples=["block"])
    category: Annotated[str, StringConstraints(pattern=r"^(\*|[a-z][a-z_]{1,39})$")] = Field(
        examples=["app_problem"], description="A category, or * for any")
    first_response_minutes: int = Field(ge=1, le=525_600, description="Business minutes to the first response")
    resolution_minutes: int = Field(ge=1, le=525_600, description="Business minutes to resolution")


class SlaPolicyOut(SlaPolicyIn):
    id: uuid.UUID
