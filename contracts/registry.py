"""Events published by the registry service."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Event


class AreaCreated(Event):
    """An administrative area (state, district, block, gram panchayat, village; or division,
    district, upazila, union, ward) was added to the hierarchy."""

    subject = "registry.area.created.v1"
    code: str = Field(description="Hierarchical area code, e.g. IN-23-0456-2210")
    parent_code: str | None
    level: str
    name: str
    name_local: str | None = None
    version: int = Field(ge=1, description="Row version; consumers keep the highest they have seen")


class AreaUpdated(Event):
    """An area's names changed."""

    subject = "registry.area.updated.v1"
    code: str
    parent_code: str | None
    level: str
    name: str
    name_local: str | None = None
    version: int = Field(ge=1)


class PersonState(Event):
    """Common payload of person events: what benefits (eligibility) and notify (contacts) need.
    National identifier values never travel on the bus; only which types a person holds and the
    keyed lookup hashes of the live identifiers (``identifier_hashes``)."""

    person_id: uuid.UUID
    household_id: uuid.UUID | None
    area_code: str
    full_name: str
    sex: str
    birth_date: date | None
    birth_date_estimated: bool
    birth_year: int | None
    disability: str | None
    pregnant: bool
    marital_status: str | None = Field(
        default=None, description="never_married, married, widowed, divorced or separated; None when not recorded")
    phones: list[str] = Field(description="E.164 phone numbers for notifications")
    preferred_language: str | None
    status: str = Field(description="active, deceased or merged")
    identifier_types: list[str] = Field(description="Types of the person's live identifiers, not their values")
    identifier_hashes: list[str] = Field(
        default_factory=list,
        description=(
            "HMAC-SHA256 (hex) of '<type>:<matching key>' of each live identifier under the registry's ID hash "
            "key (GRAMSETU_REGISTRY_ID_HMAC_KEY), sorted: a service holding that key (benefits) resolves an "
            "identifier a department posts against without the value travelling (kernel.identifiers)"
        ),
    )
    version: int = Field(ge=1)


class PersonRegistered(PersonState):
    """A person was added to the registry (by a survey, an office or an offline sync)."""

    subject = "registry.person.registered.v1"


class PersonUpdated(PersonState):
    """A person's record changed (fields, identifiers or household membership)."""

    subject = "registry.person.updated.v1"
    changed_fields: list[str]


class PersonMerged(Event):
    """Two records were found to be one person; ``merged_id`` now points to ``survivor_id``."""

    subject = "registry.person.merged.v1"
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    area_code: str
    decided_by: str
    survivor_version: int = Field(ge=1)


class PersonDuplicateLinked(Event):
    """The registry holds two person records as probably or certainly the same human, without merging
    them: the matcher scored the pair at or above its operating threshold (``suspected``) or a reviewer
    confirmed it (``confirmed``).  Consumers that must not count one human twice (benefits'
    double-dipping checks) treat both ids as one person until a ``duplicate_dismissed`` event."""

    subject = "registry.person.duplicate_linked.v1"
    candidate_id: uuid.UUID = Field(description="The duplicates-queue entry; stable across re-scoring")
    person_id: uuid.UUID
    other_person_id: uuid.UUID
    area_code: str = Field(description="Area of ``person_id``")
    match_probability: float = Field(ge=0.0, le=1.0)
    status: Literal["suspected", "confirmed"]
    reasons: list[str] = Field(default_factory=list, description="Fields that agreed, e.g. nid, name, birth_year")


class PersonDuplicateDismissed(Event):
    """A reviewer decided two records are different people; the pair never returns to the queue."""

    subject = "registry.person.duplicate_dismissed.v1"
    candidate_id: uuid.UUID
    person_id: uuid.UUID
    other_person_id: uuid.UUID
    area_code: str
    decided_by: str
    reason: str


class PersonDeceased(Event):
    """A person was recorded as deceased."""

    subject = "registry.person.deceased.v1"
    person_id: uuid.UUID
    area_code: str
    deceased_on: date
    version: int = Field(ge=1)


class HouseholdState(Event):
    household_id: uuid.UUID
    area_code: str
    status: str
    survey_status: str
    income_band: str | None = Field(
        default=None, description="The survey's income or poverty band (e.g. bpl, aay, poor); None when not recorded")
    head_person_id: uuid.UUID | None
    member_ids: list[uuid.UUID]
    version: int = Field(ge=1)


class HouseholdCreated(HouseholdState):
    """A household was registered (``survey_status`` says how far it has been reviewed)."""

    subject = "registry.household.created.v1"


class HouseholdUpdated(HouseholdState):
    """A household's address, members or status changed."""

    subject = "registry.household.updated.v1"
    changed_fields: list[str]


class HouseholdMoved(Event):
    """A household moved to another area; its members moved with it."""

    subject = "registry.household.moved.v1"
    household_id: uuid.UUID
    from_area_code: str
    to_area_code: str
    member_ids: list[uuid.UUID]
    version: int = Field(ge=1)


class SurveyApproved(Event):
    """The block / upazila office approved a household's survey record: from now on its members'
    data is official."""

    subject = "registry.survey.approved.v1"
    household_id: uuid.UUID
    area_code: str
    member_ids: list[uuid.UUID]
    verified_by: str | None
    approved_by: str
    version: int = Field(ge=1)


class RoundAreaCoverage(BaseModel):
    """Coverage of a revision round within one child area."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area_code: str
    total: int = Field(ge=0, description="Households carried forward into the round")
    reached: int = Field(ge=0, description="Confirmed, edited or closed")
    coverage: float = Field(ge=0, le=1)


class RoundClosed(Event):
    """A yearly revision round (the January round) was closed for an area: every household carried
    forward was confirmed, edited or closed, or the round was forced closed and the rest marked unreached.
    Household moves and deaths recorded in the round are published as their own events."""

    subject = "registry.round.closed.v1"
    round_id: uuid.UUID
    area_code: str
    year: int
    closed_by: str
    forced: bool
    reason: str | None = Field(default=None, description="Why the round was forced closed")
    households_total: int = Field(ge=0)
    confirmed: int = Field(ge=0)
    edited: int = Field(ge=0)
    closed: int = Field(ge=0)
    unreached: int = Field(ge=0)
    found: int = Field(ge=0, description="Households registered during the round, not carried forward")
    moved: int = Field(ge=0)
    deceased: int = Field(ge=0)
    dissolved: int = Field(ge=0)
    coverage: float = Field(ge=0, le=1, description="(confirmed + edited + closed) / households_total")
    by_child_area: list[RoundAreaCoverage]
