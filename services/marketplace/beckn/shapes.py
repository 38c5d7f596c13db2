"""Beckn message bodies built from marketplace rows (ONDC services vocabulary)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.marketplace.rules.lifecycle import FULFILLMENT_STATE, ORDER_STATE
from services.marketplace.rules.pricing import currency_of

FULFILLMENT_TYPE = "Home-Service"
SUPPORT_PHONE = "155330"


def money(minor: int, currency: str) -> dict[str, str]:
    """A Beckn price: INR and BDT both have 100 minor units (paise, poisha) to the major one."""
    return {"currency": currency, "value": f"{minor / 100:.2f}"}


def item(row: Mapping[Any, Any], amount_minor: int, *, currency: str, fulfillment_id: str = "F1") -> dict[str, Any]:
    return {"id": row["code"], "descriptor": {"name": row["name"]}, "category_ids": [row["category_code"]],
            "price": money(amount_minor, currency), "fulfillment_ids": [fulfillment_id],
            "tags": [{"descriptor": {"code": "rate"}, "list": [
                {"descriptor": {"code": "fixed_by"}, "value": "government"}]}]}


def catalog(providers: Iterable[dict[str, Any]], category: Mapping[Any, Any]) -> dict[str, Any]:
    return {"descriptor": {"name": "GramSetu Seva-Mitra"},
            "providers": list(providers),
            "fulfillments": [{"id": "F1", "type": FULFILLMENT_TYPE}],
            "payments": [{"type": "ON-FULFILLMENT", "collected_by": "BPP"}],
            "tags": [{"descriptor": {"code": "category"}, "list": [
                {"descriptor": {"code": "id"}, "value": category["code"]}]}]}


def quote(job: Mapping[Any, Any], visit_minor: int, extras_minor: int = 0, *, currency: str,
          ttl: str = "PT15M") -> dict[str, Any]:
    breakup = [{"item": {"id": job["code"]}, "title": job["name"], "price": money(job["amount_minor"], currency),
                "tags": [{"descriptor": {"code": "title"}, "list": [{"descriptor": {"code": "type"},
                                                                      "value": "item"}]}]}]
    if visit_minor:
        breakup.append({"title": "Visit charge (due only if cancelled after dispatch)",
                        "price": money(visit_minor, currency),
                        "tags": [{"descriptor": {"code": "title"}, "list": [{"descriptor": {"code": "type"},
                                                                              "value": "misc"}]}]})
    if extras_minor:
        breakup.append({"title": "Extra work", "price": money(extras_minor, currency),
                        "tags": [{"descriptor": {"code": "title"}, "list": [{"descriptor": {"code": "type"},
                                                                              "value": "item"}]}]})
    return {"price": money(job["amount_minor"] + extras_minor, currency), "breakup": breakup, "ttl": ttl}


def cancellation_terms(terms: Mapping[Any, Any], visit_minor: int, *, currency: str) -> list[dict[str, Any]]:
    dispatched = visit_minor if terms["dispatched_fee"] == "visit_charge" else 0
    return [
        {"fulfillment_state": {"descriptor": {"code": "Pending"}},
         "cancellation_fee": {"amount": money(0, currency)}},
        {"fulfillment_state": {"descriptor": {"code": "Agent-Assigned"}},
         "cancel_by": {"duration": f"PT{terms['free_before_minutes']}M"},
         "cancellation_fee": {"amount": money(int(terms["assigned_fee_minor"]), currency)}},
        {"fulfillment_state": {"descriptor": {"code": "In-Transit"}},
         "cancellation_fee": {"amount": money(dispatched, currency)}},
        {"fulfillment_state": {"descriptor": {"code": "At-Location"}},
         "cancellation_fee": {"amount": money(dispatched, currency)}},
    ]


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def order(booking: Mapping[Any, Any], job: Mapping[Any, Any], worker: Mapping[Any, Any] | None, *,
          start_code: str | None = None, completion_code: str | None = None) -> dict[str, Any]:
    state = FULFILLMENT_STATE[booking["status"]]
    currency = currency_of(booking["area_code"])
    end_stop: dict[str, Any] = {
        "type": "end", "location": {"gps": f"{booking['lat']:.6f},{booking['lon']:.6f}",
                                    "area_code": booking["area_code"], "address": booking["address"]},
        "time": {"range": {"start": _time(booking["slot_start"]), "end": _time(booking["slot_end"])}},
        "contact": {"phone": booking["customer_phone"]}, "person": {"name": booking["customer_name"]}}
    if start_code is not None:
        end_stop["authorization"] = {"type": "OTP", "token": start_code}
    fulfillment: dict[str, Any] = {"id": "F1", "type": FULFILLMENT_TYPE, "state": {
        "descriptor": {"code": state}, "updated_at": _time(booking["updated_at"])}, "stops": [end_stop]}
    if worker is not None:
        rating = worker["rating_sum"] / worker["rating_count"] if worker["rating_count"] else None
        fulfillment["agent"] = {"person": {"name": worker["name"]}, "contact": {"phone": worker["phone"]},
                                **({"rating": f"{rating:.1f}"} if rating is not None else {})}
    if completion_code is not None:
        fulfillment["tags"] = [{"descriptor": {"code": "completion"}, "list": [
            {"descriptor": {"code": "otp"}, "value": completion_code}]}]
    body: dict[str, Any] = {
        "id": str(booking["id"]), "status": ORDER_STATE[booking["status"]],
        "provider": {"id": str(booking["vendor_id"] or "gramsetu")},
        "items": [{"id": job["code"], "quantity": {"selected": {"count": 1}}, "fulfillment_ids": ["F1"]}],
        "fulfillments": [fulfillment],
        "quote": quote({**job, "amount_minor": booking["price_minor"]}, booking["visit_charge_minor"],
                       booking["extras_minor"], currency=currency),
        "payments": [{"type": "ON-FULFILLMENT", "collected_by": "BPP", "status": "NOT-PAID",
                      "params": {"amount": f"{(booking['price_minor'] + booking['extras_minor']) / 100:.2f}",
                                 "currency": currency}}],
        "cancellation_terms": cancellation_terms(booking["terms"], booking["visit_charge_minor"], currency=currency),
        "created_at": _time(booking["created_at"]), "updated_at": _time(booking["updated_at"]),
    }
    if booking["status"] == "cancelled":
        body["cancellation"] = {"cancelled_by": "CONSUMER" if booking["cancelled_by"] == "customer" else "PROVIDER",
                                "reason": {"descriptor": {"short_desc": booking["cancel_reason"] or ""}}}
    return body


def tracking(booking: Mapping[Any, Any], worker: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Beckn ``Tracking``: active with the worker's last reported position while on the way or at
    the door; inactive (no position) before and after."""
    if worker is None or booking["status"] not in ("en_route", "at_location"):
        return {"id": str(booking["id"]), "status": "inactive"}
    location: dict[str, Any] = {"gps": f"{worker['lat']:.6f},{worker['lon']:.6f}"}
    if worker["location_at"] is not None:
        location["updated_at"] = _time(worker["location_at"])
    return {"id": str(booking["id"]), "status": "active", "location": location}
