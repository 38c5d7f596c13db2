"""Broadcast campaigns, their progress, and survey summaries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from kernel.roles import ROLES
from services.notify.schemas.common import AreaCode, Key, Language, Phone, ShortText, VarValue


class Listed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Phone
    area_code: AreaCode
    language: Language | None = None
    name: Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=100)] | None = None


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["persons", "workers", "list"] = Field(description=(
        "persons: the registry's people of the area (by age and sex); workers: field functionaries of the area "
        "by role; list: the recipients given here"))
    area_code: AreaCode = Field(description="Everyone selected lives in this area (or beneath it)")
    roles: list[str] = Field(default_factory=list, max_length=10, examples=[["panchayat_secretary"]],
                             description="With kind=workers: e.g. panchayat_secretary, anganwadi_worker")
    min_age_years: float | None = Field(default=None, ge=0, le=120)
    max_age_years: float | None = Field(default=None, gt=0, le=130)
    sex: Literal["female", "male", "other"] | None = None
    recipients: list[Listed] = Field(default_factory=list, max_length=50_000, description="With kind=list")

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role(s): {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> Audience:
        if self.kind == "workers" and not self.roles:
            raise ValueError("kind=workers needs roles")
        if self.kind == "list" and not self.recipients:
            raise ValueError("kind=list needs recipients")
        if self.kind != "list" and self.recipients:
            raise ValueError("recipients are only for kind=list")
        low, high = self.min_age_years, self.max_age_years
        if low is not None and high is not None and low >= high:
            raise ValueError("min_age_years must be below max_age_years")
        return self


class Survey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: ShortText = Field(examples=["How useful was the training?"], description="Spoken in a voice survey")
    options: int = Field(default=5, ge=2, le=8, description="Answers 1..options (9 stays the opt-out key)")


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "GP secretaries: training feedback", "template_key": "training_feedback", "channel": "voice",
        "audience": {"kind": "workers", "area_code": "IN-23", "roles": ["panchayat_secretary"]},
        "rate_per_minute": 600, "survey": {"question": "How useful was the training?", "options": 5}}]})

    name: ShortText
    template_key: Key
    language: Language | None = Field(default=None, description="Default: each recipient's own language")
    channel: Literal["auto", "sms", "voice"] = "auto"
    variables: dict[Key, VarValue] = Field(default_factory=dict, max_length=20,
                                           description="The same for every recipient")
    audience: Audience
    rate_per_minute: int = Field(default=600, ge=1, le=60_000, description="Throttle: recipients queued per minute")
    valid_for_minutes: int = Field(default=24 * 60, ge=5, le=7 * 24 * 60,
                                   description="A queued message not sent within this is dropped, not sent late")
    survey: Survey | None = None


class CampaignRead(BaseModel):
    id: uuid.UUID
    name: str
    template_key: str
    language: str | None
    channel: str
    audience: dict[str, Any] = Field(description="How the recipients were selected (an uploaded list: only `listed`)")
    area_code: str
    rate_per_minute: int
    survey: dict[str, Any] | None
    status: str = Field(description="draft, running, paused, cancelled or done (every recipient queued)")
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, Any] = Field(description="recipients, queued, skipped, waiting, messages by status, finished")
    plan: dict[str, Any] = Field(default_factory=dict, description=(
        "Time left at the campaign's rate, segments, cost, the provider queue check"))


class RecipientListOut(BaseModel):
    """An uploaded CSV read as ``audience.recipients``: send it back inside ``POST /campaigns``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "recipients": [{"phone": "+919812300045", "area_code": "IN-23-0456-2210", "language": "hi",
                        "name": "Sunita Bai"}], "rows": 1, "duplicates": 0}]})

    recipients: list[Listed]
    rows: int = Field(description="Rows read (blank lines left out)")
    duplicates: int = Field(description="Rows whose phone came earlier in the sheet: kept once")


class CampaignPage(BaseModel):
    items: list[CampaignRead]
    total: int
    limit: int
    offset: int


class AreaAnswers(BaseModel):
    area_code: str
    responses: int
    counts: dict[str, int] = Field(description="Answer (1..options) → how many")
    average: float


class SurveySummary(BaseModel):
    campaign_id: uuid.UUID
    question: str
    options: int
    recipients: int
    responses: int
    areas: list[AreaAnswers]
