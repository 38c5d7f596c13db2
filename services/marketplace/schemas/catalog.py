"""Categories, rate items, rates, cancellation terms, quotes, departments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.marketplace.schemas.common import AreaCode, Code, Minor, Name, Text500


class CategoryIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "plumbing", "name": "Plumber", "name_local": "प्लंबर"},
        {"code": "electrical", "name": "Electrician", "name_local": "ইলেকট্রিশিয়ান"},
    ]})

    code: Code = Field(examples=["plumbing"])
    name: Name = Field(examples=["Plumber"])
    name_local: Name | None = Field(default=None, examples=["प्लंबर"])


class CategoryOut(CategoryIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example

    skill_no: int
    created_at: datetime


class RateItemIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "plumbing.tap_replace", "category_code": "plumbing", "kind": "job", "name": "Replace a tap"},
        {"code": "plumbing.washer", "category_code": "plumbing", "kind": "extra", "name": "Tap washer",
         "unit": "piece"},
        {"code": "plumbing.visit", "category_code": "plumbing", "kind": "visit", "name": "Visit charge"},
    ]})

    code: Code = Field(examples=["plumbing.tap_replace"])
    category_code: Code = Field(examples=["plumbing"])
    kind: Literal["job", "extra", "visit"] = Field(description="job: a bookable job type; extra: extra work "
                                                   "added on site; visit: the category's visit charge")
    name: Name = Field(examples=["Replace a tap"])
    unit: Name = "job"


class RateItemOut(RateItemIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example

    pass


class RateIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"item_code": "plumbing.tap_replace", "area_code": "IN-09", "valid_from": "2026-04-01", "amount_minor": 25000,
         "order_ref": "UP Labour Dept. G.O. 412/36-2026"},
        {"item_code": "plumbing.tap_replace", "area_code": "BD-40", "valid_from": "2026-07-01",
         "valid_to": "2027-07-01", "amount_minor": 30000},
    ]})

    item_code: Code
    area_code: AreaCode = Field(description="The rate applies in this area and every area beneath it")
    valid_from: date
    valid_to: date | None = Field(default=None, description="Exclusive; open-ended when absent")
    amount_minor: Minor
    order_ref: Text500 | None = Field(default=None, description="The government order that fixed the rate")

    @model_validator(mode="after")
    def _period(self) -> RateIn:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class RateOut(RateIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example

    id: uuid.UUID
    currency: str = Field(description="INR (paise) in India, BDT (poisha) in Bangladesh: the unit of amount_minor")
    created_by: str
    created_at: datetime


class TermsIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"free_before_minutes": 180, "assigned_fee_minor": 5000, "dispatched_fee": "visit_charge",
         "offer_timeout_seconds": 120}]})

    free_before_minutes: int = Field(default=180, ge=0, le=10_080,
                                     description="Assigned bookings cancel free until this long before the slot")
    assigned_fee_minor: Minor = 0
    dispatched_fee: Literal["visit_charge", "none"] = "visit_charge"
    offer_timeout_seconds: int = Field(default=120, ge=10, le=3600,
                                       description="How long a worker has to accept an offer")


class TermsOut(TermsIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example

    category_code: str


class QuoteLine(BaseModel):
    item_code: str
    title: str
    kind: str
    rate_id: uuid.UUID
    area_code: str = Field(description="The area whose rate applies")
    amount_minor: int
    currency: str


class Quote(BaseModel):
    category_code: str
    job: QuoteLine
    visit_charge: QuoteLine | None
    priced_on: date
    terms: TermsIn


class DepartmentIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "up-pwd", "name": "Public Works Department, Uttar Pradesh", "area_code": "IN-09"}]})

    code: Code = Field(examples=["up-pwd"])
    name: Name = Field(examples=["Public Works Department"])
    area_code: AreaCode


class DepartmentOut(DepartmentIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example

    created_at: datetime


class OfficeIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "up-pwd-lucknow-div1", "name": "PWD Lucknow Division 1", "area_code": "IN-09-0162"}]})

    code: Code = Field(examples=["up-pwd-lucknow-div1"])
    name: Name
    area_code: AreaCode


class OfficeOut(OfficeIn):
    model_config = ConfigDict(json_schema_extra=None)  # not the request body's example

    department_code: str
    created_at: datetime
