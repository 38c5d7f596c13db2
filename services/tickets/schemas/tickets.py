"""Tickets, their actions, timeline and SLA clocks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, StringConstraints

from services.tickets.rules.states import Action, Status
from services.tickets.schemas.common import AreaCode, Body, Category, Language, Name, Phone, Reason, Title

Priority = Literal["low", "normal", "high", "urgent"]
Channel = Literal["app", "api", "assisted", "call_centre", "marketplace"]
Rating = Literal["good", "average", "poor"]


class Reporter(BaseModel):
    """On whose behalf the ticket is raised (the citizen a volunteer helps, or the worker herself)."""

    name: Name
    phone: Phone | None = Field(None, description="E.164; the tracking number is sent here by SMS")
    relation: Literal["self", "citizen", "worker", "beneficiary"] = "self"


class Attachment(BaseModel):
    """A file kept elsewhere (object store, WhatsApp media id): only its reference is stored here."""

    ref: AnyUrl = Field(examples=["s3://gramsetu-attachments/2026/12/a1b2.jpg"])
    media_type: Annotated[str, StringConstraints(pattern=r"^[a-z]+/[a-z0-9.+\-]{1,60}$")] = "image/jpeg"
    name: Name | None = None


class TicketIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "category": "app_problem", "priority": "high", "title": "Poshan Tracker app does not sync",
        "description": "Since the update on 1 December the app shows 'sync failed' and the take-home ration "
                       "entries of 23 children are not sent.",
        "language": "hi", "area_code": "IN-23-0456-2210",
        "reporter": {"name": "Sunita Bai", "phone": "+919812300045", "relation": "worker"},
        "channel": "app", "concerns_facility": "AWC 23-0456-2210-017",
        "attachments": [{"ref": "s3://gramsetu-attachments/2026/12/a1b2.jpg", "media_type": "image/jpeg",
                         "name": "sync error screen"}],
    }]})

    category: Category
    priority: Priority = "normal"
    title: Title = Field(examples=["Poshan Tracker app does not sync"])
    description: Body
    language: Language = Field("hi", description="en, hi or bn: for the SMS and the status page")
    area_code: AreaCode = Field(description="Where the reporter is; routes the ticket to that area's desk")
    reporter: Reporter
    channel: Channel = "app"
    concerns_person_id: uuid.UUID | None = Field(None, description="The registry person concerned, if any")
    concerns_facility: Name | None = Field(None, description="The facility concerned, e.g. an anganwadi centre code")
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)


class IntakeTicket(TicketIn):
    client_ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,79}$")] | None = Field(
        None, description="Your id for this ticket (e.g. the kiosk's form number): a batch sent again creates "
                          "nothing twice, the ticket already raised under it comes back")


class IntakeBatchIn(BaseModel):
    """Tickets collected offline (a village digital centre, a call centre's queue) sent in one request."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"tickets": [
        {"client_ref": "VDC-2210-0091", "category": "app_problem", "title": "Poshan Tracker app does not sync",
         "description": "The app shows 'sync failed' since the update; 23 children's entries are not sent.",
         "language": "hi", "area_code": "IN-23-0456-2210", "channel": "assisted",
         "reporter": {"name": "Sunita Bai", "phone": "+919812300045", "relation": "worker"}},
        {"client_ref": "VDC-2210-0092", "category": "app_problem", "title": "Ration card entry missing",
         "description": "The take-home ration given on 2 December does not appear in the app.",
         "language": "hi", "area_code": "IN-23-0456-2210", "channel": "assisted",
         "reporter": {"name": "Kamla Devi", "relation": "citizen"}},
    ]}]})

    tickets: list[IntakeTicket] = Field(min_length=1, max_length=500)


class IntakeCreated(BaseModel):
    id: uuid.UUID
    tracking_number: str
    client_ref: str | None
    desk_id: uuid.UUID
    level: str
    status_page: str


class IntakeBatchOut(BaseModel):
    items: list[IntakeCreated] = Field(description="One per ticket sent, in the same order")


class ReporterOut(BaseModel):
    name: str
    phone: str | None = Field(None, description="Masked: only the last three digits")
    relation: str


class TicketOut(BaseModel):
    id: uuid.UUID
    tracking_number: str
    status: Status
    category: str
    priority: str
    title: str
    description: str
    language: str
    area_code: str
    desk_id: uuid.UUID
    level: str
    level_seq: int
    assigned_to: str | None
    raised_by: str
    reporter: ReporterOut
    channel: str
    concerns_person_id: uuid.UUID | None
    concerns_facility: str | None
    attachments: list[dict[str, Any]]
    rating: str | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int
    allowed_actions: list[str]
    status_page: str = Field(description="The public status page (gateway path)")


class TransitionIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"action": "start"},
        {"action": "wait_on_reporter", "note": "Please send a photo of the error message."},
        {"action": "resolve", "note": "The app was reinstalled with the 3.2 update; all entries synced."},
    ]})

    action: Literal[Action.START, Action.WAIT_ON_REPORTER, Action.REPORTER_REPLIED, Action.RESOLVE, Action.CLOSE,
                    Action.REOPEN]
    note: Body | None = Field(None, description="A public note on the timeline (e.g. what the reporter must send)")


class AssignIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"agent": "rekha.verma"}]})

    agent: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:\-]{0,127}$")] = Field(
        description="The agent's user name; must be an agent of the ticket's current desk")


class EscalateIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "Needs the district programme officer: the supplier has not delivered rations for two months"}]})

    reason: Reason


class CommentIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"body": "We have asked the supplier for the delivery date.", "visibility": "public"},
        {"body": "Supplier contract expired on 30 November; renewal file is with the DPO.", "visibility": "internal"},
    ]})

    body: Body
    visibility: Literal["public", "internal"] = "public"


class RatingIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"rating": "good", "comment": "Solved in two days, thank you."},
        {"rating": "poor", "comment": "Rations still not delivered."},
    ]})

    rating: Rating
    comment: Body | None = None


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    actor_kind: str
    kind: str
    public: bool
    from_status: str | None
    to_status: str | None
    level: str | None
    body: str | None
    data: dict[str, Any]


class SlaClock(BaseModel):
    """One clock of one level (Jira's ongoingCycle, per level)."""

    level_seq: int
    level: str
    desk_id: uuid.UUID
    kind: Literal["first_response", "resolution"]
    target_seconds: int
    elapsed_seconds: float = Field(description="Business seconds used so far")
    remaining_seconds: float = Field(description="Business seconds left (negative once breached)")
    paused: bool
    deadline_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None
    breached: bool
    policy_id: uuid.UUID | None = Field(None, description="The SLA policy that set the target (null: the defaults)")
    policy_version: int | None = Field(None, description="Its version: a level already left keeps the one it had")


class QueueItem(BaseModel):
    id: uuid.UUID
    tracking_number: str
    status: Status
    category: str
    priority: str
    title: str
    assigned_to: str | None
    created_at: datetime
    next_deadline_kind: str | None
    next_deadline_at: datetime | None
    business_seconds_left: float | None = Field(description="Business time left to the nearest deadline")
    paused: bool
