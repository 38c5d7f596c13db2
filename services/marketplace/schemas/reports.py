"""Adoption reports, department statements, earnings."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class AdoptionRow(BaseModel):
    key: str = Field(description="The day, department, district, category or channel")
    bookings: int
    assisted: int = Field(description="Of which booked by the call centre for a caller (calls that booked)")
    calls: int = Field(description="Call-centre calls: those that booked (assisted) plus those recorded without a "
                       "booking (POST /calls)")
    completed: int
    cancelled: int
    completed_minor: int


class Adoption(BaseModel):
    group: str
    since: date
    until: date
    rows: list[AdoptionRow]


class IdleDepartment(BaseModel):
    code: str
    name: str
    area_code: str
    offices: int
    last_booking_at: datetime | None


class IdleDepartments(BaseModel):
    since: date
    until: date
    items: list[IdleDepartment]


class Earning(BaseModel):
    worker_id: uuid.UUID
    vendor_id: uuid.UUID
    name: str
    jobs: int
    earned_minor: int


class IdleWorker(BaseModel):
    worker_id: uuid.UUID
    vendor_id: uuid.UUID
    name: str
    available: bool
    last_job_at: datetime | None
    completed_jobs: int
    service_area_code: str


class StatementLine(BaseModel):
    booking_id: uuid.UUID
    office_code: str
    purchase_ref: str
    job_code: str
    status: str
    at: datetime
    amount_minor: int = Field(description="Job plus extra work; for a cancellation, its fee")


class OfficeTotal(BaseModel):
    office_code: str
    lines: int
    amount_minor: int


class Statement(BaseModel):
    department_code: str
    department_name: str
    month: str
    lines: list[StatementLine]
    offices: list[OfficeTotal]
    total_minor: int
