"""The rate card: which government rate applies, and what a cancellation costs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from kernel.areas import is_within


@dataclass(frozen=True)
class RateRow:
    id: uuid.UUID
    area_code: str
    valid_from: date
    valid_to: date | None  # exclusive
    amount_minor: int

    def covers(self, area_code: str, on: date) -> bool:
        return is_within(area_code, self.area_code) and self.valid_from <= on and (
            self.valid_to is None or on < self.valid_to)


def pick_rate(rates: Iterable[RateRow], area_code: str, on: date) -> RateRow | None:
    """The rate of the most specific area containing ``area_code`` that is valid on ``on``.

    A district's rate overrides its state's; among rates of one area the latest ``valid_from``
    wins (periods of one item and area do not overlap, the service refuses that)."""
    best: RateRow | None = None
    for row in rates:
        if not row.covers(area_code, on):
            continue
        if best is None or (len(row.area_code), row.valid_from) > (len(best.area_code), best.valid_from):
            best = row
    return best


def periods_overlap(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (b_to is None or a_from < b_to) and (a_to is None or b_from < a_to)


def terms_snapshot(row: Mapping[Any, Any] | None) -> dict[str, Any]:
    """The cancellation terms a booking keeps from its confirmation (defaults when none are set)."""
    row = row or {}
    return {
        "free_before_minutes": int(row.get("free_before_minutes", 180)),
        "assigned_fee_minor": int(row.get("assigned_fee_minor", 0)),
        "dispatched_fee": str(row.get("dispatched_fee", "visit_charge")),
        "offer_timeout_seconds": int(row.get("offer_timeout_seconds", 120)),
    }


# Amounts are integers in the currency's minor unit (paise of the rupee, poisha of the taka); the
# currency follows the country of the area (a rate, a booking).
CURRENCIES = {"IN": "INR", "BD": "BDT"}


def currency_of(area_code: str) -> str:
    return CURRENCIES[area_code[:2]]


@dataclass(frozen=True)
class Fee:
    minor: int
    rule: str


def cancellation_fee(status: str, terms: Mapping[Any, Any], *, slot_start: datetime, now: datetime,
                     visit_charge_minor: int, by: str) -> Fee:
    """What the customer pays for cancelling now.

    Free while no worker is assigned, and always when the worker or the platform cancels;
    once assigned, free until ``free_before_minutes`` before the slot, then the fixed fee;
    once the worker is on the way or at the door, the visit charge."""
    if by != "customer":
        return Fee(0, f"cancelled by {by}: no fee to the customer")
    if status in ("requested", "offered"):
        return Fee(0, "free before a worker is assigned")
    if status == "assigned":
        if slot_start - now > timedelta(minutes=int(terms["free_before_minutes"])):
            return Fee(0, f"free until {terms['free_before_minutes']} minutes before the slot")
        return Fee(int(terms["assigned_fee_minor"]), "assigned and inside the late-cancellation window")
    if status in ("en_route", "at_location"):
        if terms["dispatched_fee"] == "visit_charge":
            return Fee(visit_charge_minor, "the worker is on the way or at the location: visit charge")
        return Fee(0, "no fee after dispatch under these terms")
    raise ValueError(f"a booking that is {status} cannot be cancelled")
