"""Events published by the marketplace service.

Phone numbers travel so that notify can text the worker and the customer (as registry person
events carry phones); national identifiers never do.  Amounts are integers in the minor unit of ``currency``
(paise of INR, poisha of BDT)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.base import Event

Channel = Literal["app", "call_centre", "department", "beckn"]


class BookingCreated(Event):
    """A booking was confirmed at the rate card's price and is being matched to a worker."""

    # v2: amounts in the currency's minor unit with the currency (v1 called them paise, wrong in Bangladesh).
    subject = "marketplace.booking.created.v2"
    booking_id: uuid.UUID
    channel: Channel
    category_code: str
    job_code: str
    area_code: str
    slot_start: datetime
    price_minor: int = Field(ge=0, description="Job price fixed by the government rate at confirmation")
    visit_charge_minor: int = Field(ge=0)
    currency: Literal["INR", "BDT"]
    customer_phone: str = Field(description="E.164, for the confirmation SMS")
    department_code: str | None = None
    office_code: str | None = None
    assisted: bool = Field(description="Booked by a call-centre agent or e-volunteer on the caller's behalf")


class BookingAssigned(Event):
    """A worker accepted the offer; notify tells the customer who is coming and the worker where."""

    subject = "marketplace.booking.assigned.v1"
    booking_id: uuid.UUID
    worker_id: uuid.UUID
    vendor_id: uuid.UUID
    worker_name: str
    worker_phone: str
    customer_phone: str
    area_code: str
    address: str
    slot_start: datetime


class BookingCompleted(Event):
    """The job was finished (completion code checked); the amount is what the worker earned."""

    subject = "marketplace.booking.completed.v2"
    booking_id: uuid.UUID
    worker_id: uuid.UUID
    vendor_id: uuid.UUID
    category_code: str
    area_code: str
    amount_minor: int = Field(ge=0, description="Job price plus extra work, from the rate card")
    currency: Literal["INR", "BDT"]
    department_code: str | None = None
    customer_phone: str
    completed_at: datetime


class BookingCancelled(Event):
    """A booking was cancelled by the customer, the worker's side or the platform (no worker found)."""

    subject = "marketplace.booking.cancelled.v2"
    booking_id: uuid.UUID
    cancelled_by: Literal["customer", "provider", "platform"]
    status_before: str
    reason: str
    fee_minor: int = Field(ge=0)
    currency: Literal["INR", "BDT"]
    worker_id: uuid.UUID | None = None
    customer_phone: str
    area_code: str


class RatingPosted(Event):
    """The customer rated a completed job (1-5); it feeds the worker's ranking."""

    subject = "marketplace.rating.posted.v1"
    booking_id: uuid.UUID
    worker_id: uuid.UUID
    vendor_id: uuid.UUID
    rating: int = Field(ge=1, le=5)
    comment: str | None = None


class ComplaintRaised(Event):
    """A dispute about a booking: the tickets service opens a ticket from it (IGM-shaped categories)."""

    subject = "marketplace.complaint.raised.v1"
    complaint_id: uuid.UUID
    booking_id: uuid.UUID
    area_code: str
    category: Literal["ITEM", "FULFILLMENT", "AGENT", "PAYMENT", "ORDER"]
    description: str
    raised_by: str
    channel: Channel
    worker_id: uuid.UUID | None = None
    vendor_id: uuid.UUID | None = None
    customer_phone: str
