"""What the BPP does for each Beckn action, and the ``on_<action>`` message it answers with.

A handler raises :class:`Nack` for a message it cannot take at all (before any side effect);
business outcomes (no worker nearby 40006, order not found 30010, cancellation not possible
50001, ...) travel in the callback's ``error``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import Problem
from services.marketplace.beckn import shapes
from services.marketplace.beckn.callbacks import enqueue
from services.marketplace.beckn.orders import order_message
from services.marketplace.repository.bookings import BookingRepository
from services.marketplace.repository.catalog import CatalogRepository
from services.marketplace.repository.workers import VendorRepository, WorkerRepository
from services.marketplace.rules.beckn import INVALID_REQUEST, BecknError
from services.marketplace.rules.lifecycle import CANCELLABLE
from services.marketplace.rules.pricing import currency_of
from services.marketplace.schemas.bookings import BookingIn, RatingIn, RescheduleIn
from services.marketplace.service import bookings, catalog, matching
from services.marketplace.settings import get_marketplace_settings

CANCEL_REASONS = {"001": "Price of the service has changed", "002": "Worker is not available",
                  "003": "Customer not available", "004": "Booked by mistake", "005": "Found another worker",
                  "006": "Service no longer needed"}
RATING_CATEGORIES = ("Order", "Fulfillment", "Agent", "Provider")
_GPS = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


class Nack(Exception):
    def __init__(self, error: BecknError) -> None:
        super().__init__(error.message)
        self.error = error


def _need(value: Any, path: str, what: str) -> Any:
    if value in (None, "", [], {}):
        raise Nack(BecknError(INVALID_REQUEST, path, f"{what} is required"))
    return value


def _dig(data: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and len(data) > key:
            data = data[key]
        else:
            return None
    return data


def _end_stop(fulfillment: Any) -> dict[str, Any]:
    stops = _dig(fulfillment, "stops")
    if isinstance(stops, list):
        for stop in stops:
            if isinstance(stop, dict) and stop.get("type") == "end":
                return stop
    end = _dig(fulfillment, "end")  # Beckn 1.0 shape
    return end if isinstance(end, dict) else {}


def _place(fulfillment: Any, path: str) -> tuple[float, float, str]:
    location = _end_stop(fulfillment).get("location") or {}
    gps = _need(location.get("gps"), f"{path}.stops[end].location.gps", "the service location's gps")
    match = _GPS.match(str(gps))
    if not match or not (-90 <= float(match[1]) <= 90 and -180 <= float(match[2]) <= 180):
        raise Nack(BecknError(INVALID_REQUEST, f"{path}.stops[end].location.gps", "gps must be 'lat,lon'"))
    area = str(_need(location.get("area_code"), f"{path}.stops[end].location.area_code",
                     "a GramSetu area code (e.g. IN-09-162-820) as area_code"))
    if not re.match(r"^(IN|BD)(-\d{1,6}){1,5}$", area):
        raise Nack(BecknError(INVALID_REQUEST, f"{path}.stops[end].location.area_code",
                              "area_code must be a GramSetu area code such as IN-09-162-820"))
    return float(match[1]), float(match[2]), area


def bap_identity(context: Mapping[str, Any]) -> Identity:
    """A verified BAP books on the Beckn channel anywhere the BPP serves."""
    return Identity(subject=f"beckn:{context['bap_id']}", kind="client", scopes=["marketplace:book"],
                    area_scope=["IN", "BD"], client_id=str(context["bap_id"]))


async def _error_or(session: AsyncSession, context: Mapping[str, Any], action: str, now: datetime,
                    code: str, message: str) -> None:
    await enqueue(session, context, action, {}, now, error={"code": code, "message": message})


async def search(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any],
                 now: datetime) -> None:
    intent = _need(_dig(message, "intent"), "message.intent", "intent")
    repo = CatalogRepository(session)
    code = _dig(intent, "category", "id") or _dig(intent, "category", "descriptor", "code")
    item_id = _dig(intent, "item", "id")
    if not code and item_id:
        item = await repo.item(str(item_id))
        code = item["category_code"] if item else None
    category = await repo.category(str(_need(code, "message.intent.category.id", "a category id or item id")))
    lat, lon, area = _place(_dig(intent, "fulfillment"), "message.intent.fulfillment")
    if category is None:
        return await _error_or(session, context, "on_search", now, "30005", "category not found")
    ranked = await matching.search(session, category["code"], lat=lat, lon=lon, area_code=area, at=now,
                                   radius_km=get_marketplace_settings().default_radius_km, limit=20)
    if not ranked:
        return await _error_or(session, context, "on_search", now, "40006",
                               "no worker of this trade is available nearby")
    items_page, _ = await repo.items(category_code=category["code"], limit=100, offset=0)
    priced = []
    for item in items_page:
        if item["kind"] == "job":
            try:
                _, chosen = await catalog.price(session, item["code"], area, matching.local_time(area, now).date(),
                                                "item")
            except Problem:
                continue
            priced.append(shapes.item(item, chosen.amount_minor, currency=currency_of(area)))
    providers = []
    for vendor_id in dict.fromkeys(r.candidate.vendor_id for r in ranked):
        vendor = await VendorRepository(session).get(vendor_id)
        nearest = min(r.distance_km for r in ranked if r.candidate.vendor_id == vendor_id)
        providers.append({"id": str(vendor_id), "descriptor": {"name": vendor["name"] if vendor else ""},
                          "categories": [{"id": category["code"], "descriptor": {"name": category["name"]}}],
                          "items": priced, "fulfillments": [{"id": "F1", "type": shapes.FULFILLMENT_TYPE}],
                          "tags": [{"descriptor": {"code": "nearest_worker_km"},
                                    "list": [{"descriptor": {"code": "distance"}, "value": f"{nearest:.2f}"}]}]})
    await enqueue(session, context, "on_search", {"catalog": shapes.catalog(providers, category)}, now)


async def _order_quote(session: AsyncSession, order: Any, now: datetime) -> tuple[dict[str, Any], Any]:
    item_id = str(_need(_dig(order, "items", 0, "id"), "message.order.items[0].id", "an item id"))
    lat, lon, area = _place(_dig(order, "fulfillments", 0), "message.order.fulfillments[0]")
    quote = await catalog.quote(session, item_id, area, matching.local_time(area, now).date())
    return {"item_id": item_id, "lat": lat, "lon": lon, "area": area}, quote


async def _select_or_init(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any],
                          now: datetime, action: str) -> None:
    order = _need(_dig(message, "order"), "message.order", "order")
    try:
        place, quote = await _order_quote(session, order, now)
    except Problem as exc:
        return await _error_or(session, context, action, now, "30004", exc.detail)
    ranked = await matching.search(session, quote.category_code, lat=place["lat"], lon=place["lon"],
                                   area_code=place["area"], at=now,
                                   radius_km=get_marketplace_settings().default_radius_km, limit=1)
    if not ranked:
        return await _error_or(session, context, action, now, "40006", "no worker of this trade is available nearby")
    job = {"code": quote.job.item_code, "name": quote.job.title, "amount_minor": quote.job.amount_minor}
    visit = quote.visit_charge.amount_minor if quote.visit_charge else 0
    reply: dict[str, Any] = {
        "provider": {"id": str(ranked[0].candidate.vendor_id)},
        "items": [{"id": job["code"], "quantity": {"selected": {"count": 1}}, "fulfillment_ids": ["F1"]}],
        "fulfillments": [{"id": "F1", "type": shapes.FULFILLMENT_TYPE,
                          "state": {"descriptor": {"code": "Serviceable"}}}],
        "quote": shapes.quote(job, visit, currency=quote.job.currency)}
    if action == "on_init":
        reply["billing"] = _dig(order, "billing") or {}
        reply["payments"] = [{"type": "ON-FULFILLMENT", "collected_by": "BPP"}]
        reply["cancellation_terms"] = shapes.cancellation_terms(quote.terms.model_dump(), visit,
                                                                currency=quote.job.currency)
    await enqueue(session, context, action, {"order": reply}, now)


async def select(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any], now: datetime) -> None:
    await _select_or_init(session, context, message, now, "on_select")


async def init(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any], now: datetime) -> None:
    await _select_or_init(session, context, message, now, "on_init")


def _phone(raw: Any, path: str) -> str:
    digits = re.sub(r"[^\d+]", "", str(_need(raw, path, "the customer's phone")))
    if re.match(r"^[6-9]\d{9}$", digits):
        return "+91" + digits
    if re.match(r"^\+[1-9]\d{7,14}$", digits):
        return digits
    raise Nack(BecknError(INVALID_REQUEST, path, "a 10-digit Indian mobile number or an E.164 number"))


async def confirm(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any],
                  now: datetime) -> None:
    order = _need(_dig(message, "order"), "message.order", "order")
    existing = await BookingRepository(session).by_beckn(str(context["bap_id"]), str(context["transaction_id"]))
    if existing is not None:
        return await enqueue(session, context, "on_confirm", await order_message(session, existing), now)
    place = {"item_id": str(_need(_dig(order, "items", 0, "id"), "message.order.items[0].id", "an item id"))}
    lat, lon, area = _place(_dig(order, "fulfillments", 0), "message.order.fulfillments[0]")
    stop = _end_stop(_dig(order, "fulfillments", 0))
    name = _dig(order, "billing", "name") or _dig(stop, "person", "name")
    phone = _phone(_dig(order, "billing", "phone") or _dig(stop, "contact", "phone"), "message.order.billing.phone")
    slot = _dig(stop, "time", "range", "start")
    try:
        body = BookingIn(job_code=place["item_id"], area_code=area, lat=lat, lon=lon,
                         address=str(_dig(stop, "location", "address") or area)[:500],
                         customer_name=str(_need(name, "message.order.billing.name", "the customer's name"))[:200],
                         customer_phone=phone, slot_start=slot if slot and str(slot) > now.isoformat() else None)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Nack(BecknError(INVALID_REQUEST, "message.order", f"{first['loc']}: {first['msg']}")) from exc
    try:
        async with session.begin_nested():
            row, codes = await bookings.create(session, bap_identity(context), body, now, channel="beckn", beckn={
                "beckn_transaction_id": str(context["transaction_id"]), "beckn_bap_id": str(context["bap_id"]),
                "beckn_bap_uri": str(context["bap_uri"])})
    except Problem as exc:
        return await _error_or(session, context, "on_confirm", now, "30004", exc.detail)
    await enqueue(session, context, "on_confirm", await order_message(
        session, row, start_code=codes.start, completion_code=codes.completion), now)


async def _own_order(session: AsyncSession, context: Mapping[str, Any], order_id: Any) -> RowMapping | None:
    try:
        booking_id = uuid.UUID(str(order_id))
    except ValueError:
        return None
    row = await BookingRepository(session).get(booking_id, lock=True)
    return row if row is not None and row["beckn_bap_id"] == context["bap_id"] else None


async def status(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any], now: datetime) -> None:
    row = await _own_order(session, context, _need(_dig(message, "order_id"), "message.order_id", "order_id"))
    if row is None:
        return await _error_or(session, context, "on_status", now, "30010", "order not found")
    await enqueue(session, context, "on_status", await order_message(session, row), now)


async def cancel(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any], now: datetime) -> None:
    row = await _own_order(session, context, _need(_dig(message, "order_id"), "message.order_id", "order_id"))
    reason_id = str(_dig(message, "cancellation_reason_id") or "")
    if row is None:
        return await _error_or(session, context, "on_cancel", now, "30010", "order not found")
    if reason_id not in CANCEL_REASONS:
        return await _error_or(session, context, "on_cancel", now, "30011",
                               f"unknown cancellation_reason_id; use one of {', '.join(CANCEL_REASONS)}")
    if row["status"] not in CANCELLABLE:
        return await _error_or(session, context, "on_cancel", now, "50001",
                               f"an order whose fulfillment is {row['status']} cannot be cancelled")
    row = await bookings.cancel_row(session, row, "customer", CANCEL_REASONS[reason_id], f"beckn:{row['beckn_bap_id']}",
                                    now)
    await enqueue(session, context, "on_cancel", await order_message(session, row), now)


async def rating(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any], now: datetime) -> None:
    ratings = _need(_dig(message, "ratings"), "message.ratings", "ratings")
    entry = ratings[0] if isinstance(ratings, list) and ratings and isinstance(ratings[0], dict) else {}
    if entry.get("rating_category") not in RATING_CATEGORIES:
        return await _error_or(session, context, "on_rating", now, "50003",
                               f"rating_category must be one of {', '.join(RATING_CATEGORIES)}")
    row = await _own_order(session, context, entry.get("id"))
    if row is None:
        return await _error_or(session, context, "on_rating", now, "30014", "entity to rate not found")
    try:
        value = RatingIn(rating=int(str(entry.get("value")))).rating
    except (ValueError, ValidationError):
        return await _error_or(session, context, "on_rating", now, "30015", "value must be 1 to 5")
    try:
        async with session.begin_nested():
            await bookings.rate(session, bap_identity(context), row["id"], RatingIn(rating=value), now)
    except Problem as exc:
        return await _error_or(session, context, "on_rating", now, "40000", exc.detail)
    await enqueue(session, context, "on_rating", {"feedback_ack": True, "rating_ack": True}, now)


async def support(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any], now: datetime) -> None:
    ref = _dig(message, "support", "ref_id") or _dig(message, "support", "order_id")
    await enqueue(session, context, "on_support", {"support": {
        "ref_id": str(ref or context["transaction_id"]), "phone": shapes.SUPPORT_PHONE,
        "url": "https://gramsetu.example.org/support"}}, now)


async def track(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any], now: datetime) -> None:
    """Where the worker is: active (with the last reported position) while on the way or at the door."""
    row = await _own_order(session, context, _need(_dig(message, "order_id"), "message.order_id", "order_id"))
    if row is None:
        return await _error_or(session, context, "on_track", now, "30010", "order not found")
    worker = await WorkerRepository(session).get(row["worker_id"]) if row["worker_id"] else None
    await enqueue(session, context, "on_track", {"tracking": shapes.tracking(row, worker)}, now)


async def update(session: AsyncSession, context: Mapping[str, Any], message: Mapping[str, Any],
                 now: datetime) -> None:
    """``update_target: fulfillment`` with a new slot (``stops[end].time.range.start``) reschedules the
    booking (ONDC ``on_update_reschedule``); the worker keeps it only if their shifts cover the new slot."""
    order = _need(_dig(message, "order"), "message.order", "order")
    target = str(_need(_dig(message, "update_target"), "message.update_target", "update_target"))
    row = await _own_order(session, context, _need(_dig(order, "id"), "message.order.id", "the order id"))
    if row is None:
        return await _error_or(session, context, "on_update", now, "30010", "order not found")
    if target not in ("fulfillment", "fulfillments"):
        return await _error_or(session, context, "on_update", now, "50002",
                               f"update_target {target!r} is not offered; reschedule with 'fulfillment'")
    stop = _end_stop(_dig(order, "fulfillments", 0))
    start, end = _dig(stop, "time", "range", "start"), _dig(stop, "time", "range", "end")
    try:
        body = RescheduleIn(slot_start=_need(start, "message.order.fulfillments[0].stops[end].time.range.start",
                                             "the new slot's start"),
                            **({"slot_minutes": _minutes(start, end)} if end else {}))
    except (ValidationError, ValueError) as exc:
        raise Nack(BecknError(INVALID_REQUEST, "message.order.fulfillments[0].stops[end].time.range",
                              "an RFC 3339 start (and end) of 30 minutes to a day")) from exc
    try:
        async with session.begin_nested():
            row = await bookings.reschedule(session, bap_identity(context), row["id"], body, now)
    except Problem as exc:
        return await _error_or(session, context, "on_update", now, "50002", exc.detail)
    await enqueue(session, context, "on_update", await order_message(session, row), now)


def _minutes(start: Any, end: Any) -> int:
    span = datetime.fromisoformat(str(end).replace("Z", "+00:00")) - datetime.fromisoformat(
        str(start).replace("Z", "+00:00"))
    return int(span.total_seconds() // 60)


HANDLERS = {"search": search, "select": select, "init": init, "confirm": confirm, "status": status,
            "track": track, "cancel": cancel, "update": update, "rating": rating, "support": support}
