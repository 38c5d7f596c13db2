"""Shaping bookings for answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.marketplace.repository.bookings import BookingRepository
from services.marketplace.rules.lifecycle import actions_from
from services.marketplace.rules.pricing import currency_of
from services.marketplace.schemas.bookings import BookingOut, Codes, ExtraOut
from services.marketplace.service.common import mask_phone

SYSTEM_ACTIONS = frozenset({"offer", "offer_expired"})  # taken by the service itself, never by a caller
_FIELDS = ("id", "status", "channel", "category_code", "job_code", "area_code", "lat", "lon", "address", "slot_start",
           "slot_end", "customer_name", "assisted_by", "department_code", "office_code", "purchase_ref", "worker_id",
           "vendor_id", "offer_worker_id", "offer_expires_at", "priced_on", "price_minor", "visit_charge_minor",
           "extras_minor", "terms", "cancelled_by", "cancel_reason", "cancellation_fee_minor", "rating",
           "dispute_status", "created_at", "version")


def booking_summary(row: Mapping[Any, Any]) -> BookingOut:
    return BookingOut(**{k: row[k] for k in _FIELDS}, customer_phone_masked=mask_phone(row["customer_phone"]) or "",
                      total_minor=row["price_minor"] + row["extras_minor"], currency=currency_of(row["area_code"]),
                      next_actions=[a for a in actions_from(row["status"]) if a not in SYSTEM_ACTIONS])


async def booking_out(session: AsyncSession, row: Mapping[Any, Any], codes: Codes | None = None) -> BookingOut:
    out = booking_summary(row)
    out.codes = codes
    out.extras = [ExtraOut(**{k: e[k] for k in ExtraOut.model_fields}) for e in
                  await BookingRepository(session).extras(row["id"])]
    return out
