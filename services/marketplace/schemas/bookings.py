"""Bookings and their actions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.marketplace.schemas.common import AreaCode, Code, Lat, Lon, Name, Phone, Reason, Text500

Otp = Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
PurchaseRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9/_.\-]{1,64}$")]


class BookingIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"job_code": "plumbing.tap_replace", "channel": "app", "area_code": "IN-09-0162-0820", "lat": 26.8467,
         "lon": 80.9462, "address": "House 14, Sector C, Aliganj, Lucknow",
         "slot_minutes": 120, "customer_name": "Anita Srivastava", "customer_phone": "+919812300099"},
        {"job_code": "electrical.fan_repair", "channel": "department", "area_code": "IN-09-0162-0820",
         "lat": 26.8510, "lon": 80.9431, "address": "PWD Division 1 office, Kaiserbagh",
         "customer_name": "Executive Engineer",
         "customer_phone": "+915222200011", "office_code": "up-pwd-lucknow-div1", "purchase_ref": "PWD/LKO/2026/1187"},
    ]})

    job_code: Code = Field(examples=["plumbing.tap_replace"], description="A job item of the rate card")
    channel: Literal["app", "call_centre", "department"] = Field(
        default="app", description="app: citizen app or portal; call_centre: an agent booking for a caller "
        "(recorded as assisted); department: an office's requisition (office_code and purchase_ref required)")
    area_code: AreaCode = Field(examples=["IN-09-0162-0820"])
    lat: Lat
    lon: Lon
    address: Text500
    slot_start: datetime | None = Field(default=None, description="Defaults to now (as soon as possible)")
    slot_minutes: int = Field(default=120, ge=30, le=24 * 60)
    customer_name: Name
    customer_phone: Phone
    max_radius_km: float | None = Field(default=None, gt=0, le=50)
    office_code: Code | None = None
    purchase_ref: PurchaseRef | None = None


class Codes(BaseModel):
    start: str = Field(description="Read out to the worker on arrival")
    completion: str = Field(description="Read out to the worker when the job is done")


class ExtraIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"item_code": "plumbing.washer", "quantity": 2}]})

    item_code: Code
    quantity: int = Field(default=1, ge=1, le=100)


class ExtraOut(BaseModel):
    id: uuid.UUID
    item_code: str
    quantity: int
    unit_minor: int
    amount_minor: int
    added_by: str
    added_at: datetime


class BookingOut(BaseModel):
    id: uuid.UUID
    status: str
    channel: str
    category_code: str
    job_code: str
    area_code: str
    lat: float
    lon: float
    address: str
    slot_start: datetime
    slot_end: datetime
    customer_name: str
    customer_phone_masked: str
    assisted_by: str | None
    department_code: str | None
    office_code: str | None
    purchase_ref: str | None
    worker_id: uuid.UUID | None
    vendor_id: uuid.UUID | None
    offer_worker_id: uuid.UUID | None
    offer_expires_at: datetime | None
    priced_on: date
    currency: str = Field(description="INR (paise) in India, BDT (poisha) in Bangladesh: the unit of every *_minor")
    price_minor: int
    visit_charge_minor: int
    extras_minor: int
    total_minor: int
    terms: dict[str, Any]
    cancelled_by: str | None
    cancel_reason: str | None
    cancellation_fee_minor: int | None
    rating: int | None
    dispute_status: str | None
    created_at: datetime
    version: int
    codes: Codes | None = Field(default=None, description="Only in the answer to the booking's creation")
    extras: list[ExtraOut] = []
    next_actions: list[str] = []


class OtpIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"otp": "4821"}]})

    otp: Otp


class CancelIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "Fixed it ourselves", "by": "customer"},
        {"reason": "Worker's motorcycle broke down", "by": "provider"},
    ]})

    reason: Reason
    by: Literal["customer", "provider"] = Field(
        default="customer", description="provider: the worker's side withdraws (the job goes to the next worker)")


class RescheduleIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"slot_start": "2027-01-09T16:00:00+05:30", "slot_minutes": 90}]})

    slot_start: datetime
    slot_minutes: int = Field(default=120, ge=30, le=24 * 60)


class RatingIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"rating": 5, "comment": "Came on time and cleaned up after"}]})

    rating: int = Field(ge=1, le=5)
    comment: Text500 | None = None


class DisputeIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"category": "FULFILLMENT", "description": "The new tap leaks again the next day"}]})

    category: Literal["ITEM", "FULFILLMENT", "AGENT", "PAYMENT", "ORDER"] = "FULFILLMENT"
    description: Text500


class DisputeOut(BaseModel):
    complaint_id: uuid.UUID
    booking_id: uuid.UUID
    status: str


class TransitionOut(BaseModel):
    from_status: str | None
    to_status: str
    action: str
    actor: str
    worker_id: uuid.UUID | None
    details: dict[str, Any]
    at: datetime
