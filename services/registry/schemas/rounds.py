"""Revision round bodies: open, work items (confirm, edit, close, reopen), close, reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kernel.areas import AreaCodeStr
from services.registry.schemas.common import Reason, Version
from services.registry.schemas.households import HouseholdUpdate, MemberAdd, MemberEnd
from services.registry.schemas.persons import PersonUpdate
from services.registry.schemas.queries import Cell

ItemStatusName = Literal["pending", "confirmed", "edited", "closed", "unreached"]
Outcome = Literal["moved", "deceased", "dissolved"]


def _not_future(value: date | None) -> date | None:
    if value is not None and value > date.today():
        raise ValueError("the date cannot be in the future")
    return value


class RoundOpen(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"area_code": "BD-40-87-90", "year": 2027}]})

    area_code: AreaCodeStr = Field(examples=["BD-40-87-90-54-08"])
    year: int = Field(ge=2000, le=2100, examples=[2027])
    due_on: date | None = Field(default=None, description="After this day the round is flagged overdue")

    @field_validator("due_on")
    @classmethod
    def _due_ahead(cls, value: date | None) -> date | None:
        if value is not None and value < date.today():
            raise ValueError("the due date cannot be in the past")
        return value


class RoundOut(BaseModel):
    id: uuid.UUID
    area_code: str
    year: int
    status: str
    due_on: date | None
    overdue_at: datetime | None
    households_total: int
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    close_reason: str | None
    forced: bool
    version: int


class RoundPage(BaseModel):
    items: list[RoundOut]
    total: int
    limit: int
    offset: int


class ItemOut(BaseModel):
    id: uuid.UUID
    round_id: uuid.UUID
    household_id: uuid.UUID
    area_code: str
    address: str
    household_status: str
    origin: str
    status: str
    member_count: int = Field(description="Live members when the household was carried forward")
    close_outcome: str | None
    destination_area_code: str | None
    deceased_on: date | None
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    edits: list[dict[str, Any]]
    applied_at: datetime | None
    version: int


class ItemPage(BaseModel):
    items: list[ItemOut]
    total: int
    limit: int
    offset: int


class ItemConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base_version": 1, "note": "Visited 7 January; all five members present"}]})

    base_version: Version = Field(description="The item version you worked on")
    note: Reason | None = None


class PersonEdit(PersonUpdate):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"person_id": "0192f3a4-5b6c-7d8e-9f00-112233445566", "base_version": 2, "occupation": "Rickshaw puller"}]})

    person_id: uuid.UUID


class MemberEndEdit(MemberEnd):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"person_id": "0192f3a4-5b6c-7d8e-9f00-112233445566", "ended_on": "2026-12-20", "reason": "moved_out"}]})

    person_id: uuid.UUID


class DeathEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID
    deceased_on: date

    _date = field_validator("deceased_on")(_not_future)


class ItemEdit(BaseModel):
    """Changes found at the visit; each goes through the household / person services (versioned,
    with history and events) and is linked to the item."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base_version": 1, "note": "New latrine house number; the eldest son married out",
         "household": {"base_version": 3, "address": "House 12A, Nagarghata, Tala"},
         "persons": [{"person_id": "0192f3a4-5b6c-7d8e-9f00-112233445566", "base_version": 2,
                      "occupation": "Rickshaw puller"}],
         "end_members": [{"person_id": "0192f3a4-5b6c-7d8e-9f00-112233445577", "ended_on": "2026-12-20",
                          "reason": "married_out"}],
         "add_members": [{"role": "grandchild", "person": {"full_name": "সুমাইয়া", "name_latin": "Sumaiya",
                                                           "sex": "female", "birth_date": "2026-09-14"}}]},
    ]})

    base_version: Version = Field(description="The item version you worked on")
    note: Reason | None = None
    household: HouseholdUpdate | None = Field(default=None, description="Address, GPS, or a move inside the round")
    persons: list[PersonEdit] = Field(default_factory=list, max_length=60)
    add_members: list[MemberAdd] = Field(default_factory=list, max_length=30)
    end_members: list[MemberEndEdit] = Field(default_factory=list, max_length=60)
    deaths: list[DeathEdit] = Field(default_factory=list, max_length=60)

    @model_validator(mode="after")
    def _something(self) -> ItemEdit:
        if self.household is None and not (self.persons or self.add_members or self.end_members or self.deaths):
            raise ValueError("nothing to edit: give household, persons, add_members, end_members or deaths")
        if self.household is not None and self.household.status is not None:
            raise ValueError("a household's status changes by closing the item, not by editing it")
        return self


class ItemClose(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base_version": 1, "outcome": "moved", "destination_area_code": "BD-30-26",
         "reason": "Neighbours say the family moved to Dhaka for work in March"},
        {"base_version": 1, "outcome": "deceased", "deceased_on": "2026-08-02",
         "reason": "The only member, an elderly widow, died in August"},
    ]})

    base_version: Version = Field(description="The item version you worked on")
    outcome: Outcome
    reason: Reason = Field(description="What was found at the visit")
    destination_area_code: AreaCodeStr | None = Field(default=None, description="Where a moved household went")
    deceased_on: date | None = Field(default=None, description="When the last member died, if known")

    _date = field_validator("deceased_on")(_not_future)

    @model_validator(mode="after")
    def _consistent(self) -> ItemClose:
        if self.destination_area_code is not None and self.outcome != "moved":
            raise ValueError("destination_area_code is only for outcome 'moved'")
        if self.deceased_on is not None and self.outcome != "deceased":
            raise ValueError("deceased_on is only for outcome 'deceased'")
        return self


class ItemReopen(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base_version": 2, "reason": "The family came back after the harvest; visit again"}]})

    base_version: Version
    reason: Reason


class RoundClose(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base_version": 1},
        {"force": True, "reason": "Four households in the char area unreachable after the flood", "base_version": 1},
    ]})

    force: bool = Field(default=False, description="Close although households are still pending")
    reason: Reason | None = Field(default=None, description="Required with force: why households were not reached")
    base_version: Version | None = None

    @model_validator(mode="after")
    def _reason_with_force(self) -> RoundClose:
        if self.force and self.reason is None:
            raise ValueError("a forced close needs a reason")
        return self


class AreaCoverage(BaseModel):
    area_code: str
    total: int
    pending: int
    confirmed: int
    edited: int
    closed: int
    unreached: int
    coverage: float


class CoverageOut(AreaCoverage):
    round_id: uuid.UUID
    complete: bool
    found: int = Field(description="Households registered during the round (not in the total)")
    outcomes: dict[str, int] = Field(description="Closed items by outcome")
    by_child_area: list[AreaCoverage]


class RoundDiff(BaseModel):
    """This round against the same area's previous closed round; cells under k are suppressed."""

    round_id: uuid.UUID
    area_code: str
    year: int
    previous_round_id: uuid.UUID | None
    previous_year: int | None
    k: int
    as_of: date
    households: Cell
    population: Cell
    households_added: Cell | None = Field(description="Present now, not present after the previous round")
    households_moved: Cell
    households_closed: Cell = Field(description="All members deceased, or dissolved")
    persons_added: Cell | None
    persons_deceased: Cell | None
    by_sex_and_age: dict[str, dict[str, Cell]]
    previous_by_sex_and_age: dict[str, dict[str, Cell]] | None
    change_by_sex_and_age: dict[str, dict[str, int | None]] | None = Field(
        description="Now minus previous, only where both cells are published"
    )
