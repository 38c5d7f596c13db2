"""Desks, agents, calendars and SLA policies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.tickets.rules.calendar import parse_hours
from services.tickets.schemas.common import AreaCode, Category, Name, Subject

HourRange = Annotated[list[Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]],
                      Field(min_length=2, max_length=2)]
TimeZone = Literal["Asia/Kolkata", "Asia/Dhaka", "UTC"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAY: dict[Weekday, list[list[str]]] = {
    d: [["10:00", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}  # type: ignore[misc]


class CalendarIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "Madhya Pradesh government offices", "timezone": "Asia/Kolkata",
         "working_hours": {d: [["10:00", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")},
         "saturdays_off": [2, 4]},
        {"name": "Bangladesh upazila offices", "timezone": "Asia/Dhaka",
         "working_hours": {d: [["09:00", "17:00"]] for d in ("sun", "mon", "tue", "wed", "thu")},
         "saturdays_off": [1, 2, 3, 4, 5]},
    ]})

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
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example
    id: uuid.UUID
    version: int = Field(description="Counts every change of hours, zone, off-Saturdays, parent or holidays")
    created_at: datetime


class CalendarPatch(BaseModel):
    """Only the fields sent change; running SLA deadlines of the desks on the calendar are counted again."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"saturdays_off": [1, 2, 3, 4, 5]},
        {"working_hours": {d: [["09:30", "13:30"], ["14:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}},
    ]})

    timezone: TimeZone | None = None
    working_hours: dict[Weekday, Annotated[list[HourRange], Field(max_length=4)]] | None = Field(
        None, description="Replaces the whole week's working ranges")
    saturdays_off: list[Annotated[int, Field(ge=1, le=5)]] | None = Field(None, max_length=5)
    parent_id: uuid.UUID | None = Field(None, description="null: no parent calendar any more")

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[list[str]]] | None) -> dict[str, list[list[str]]] | None:
        if value is not None:
            parse_hours(value)
        return value

    @model_validator(mode="after")
    def _not_null(self) -> CalendarPatch:
        for name in ("timezone", "working_hours", "saturdays_off"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class HolidayIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"day": "2027-01-26", "name": "Republic Day", "kind": "national"},
        {"day": "2027-11-01", "name": "Madhya Pradesh Sthapana Diwas", "kind": "state"},
    ]})

    day: date
    name: Name
    kind: Literal["national", "state", "local"] = "state"


class HolidayOut(HolidayIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example
    calendar_id: uuid.UUID


class DeskIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "Sehore block ICDS help desk", "area_code": "IN-23-0456-2210",
         "categories": ["app_problem", "ration", "payment"], "calendar_id": "0192f3a4-5b6c-7d8e-9f00-112233445566",
         "auto_close_days": 7}]})

    name: Name = Field(examples=["Sehore block ICDS help desk"])
    area_code: AreaCode
    categories: list[Category] = Field(default_factory=list, max_length=20,
                                       description="Categories it takes; empty = every category")
    calendar_id: uuid.UUID
    auto_close_days: int | None = Field(
        None, ge=0, le=365, description="Days after which a resolved ticket closes on its own (null: the "
                                        "service default, GRAMSETU_TICKETS_AUTO_CLOSE_DAYS; 0: never)")


class DeskOut(DeskIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example
    id: uuid.UUID
    level: str = Field(description="block, district, state (India) or upazila, district, division (Bangladesh)")
    active: bool
    created_at: datetime


class DeskPatch(BaseModel):
    """Only the fields sent change.  New auto-close days apply to the desk's tickets already resolved too."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"auto_close_days": 7}, {"active": False}]})

    auto_close_days: int | None = Field(None, ge=0, le=365, description="null: back to the service default")
    active: bool | None = Field(None, description="false: takes no new tickets (routing skips it)")

    @model_validator(mode="after")
    def _not_null(self) -> DeskPatch:
        if "active" in self.model_fields_set and self.active is None:
            raise ValueError("active cannot be null")
        return self


class AgentIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"subject": "rekha.verma", "display_name": "Rekha Verma (block help desk)"}]})

    subject: Subject = Field(description="The agent's user name at the gateway")
    display_name: Name


class AgentOut(AgentIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example
    id: uuid.UUID
    desk_id: uuid.UUID
    active: bool


class SlaPolicyIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"level": "block", "category": "app_problem", "first_response_minutes": 240, "resolution_minutes": 1440},
        {"level": "district", "category": "*", "first_response_minutes": 480, "resolution_minutes": 2880},
    ]})

    level: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")] = Field(examples=["block"])
    category: Annotated[str, StringConstraints(pattern=r"^(\*|[a-z][a-z_]{1,39})$")] = Field(
        examples=["app_problem"], description="A category, or * for any")
    first_response_minutes: int = Field(ge=1, le=525_600, description="Business minutes to the first response")
    resolution_minutes: int = Field(ge=1, le=525_600, description="Business minutes to resolution")


class SlaPolicyOut(SlaPolicyIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example
    id: uuid.UUID
    version: int = Field(description="1 when set first, +1 per change; each clock names the version it runs on")
    updated_at: datetime | None


class SlaPolicyVersionOut(BaseModel):
    policy_id: uuid.UUID
    version: int
    level: str
    category: str
    first_response_minutes: int
    resolution_minutes: int
    changed_at: datetime
    changed_by: str
