"""Bookings: creation at the rate card's price on three channels, the lifecycle, and who may act.

Every change goes through :func:`_move`, which checks the state machine (rules/lifecycle.py),
records the transition and updates the row, all in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.marketplace import (
    BookingAssigned,
    BookingCancelled,
    BookingCompleted,
    BookingCreated,
    ComplaintRaised,
    RatingPosted,
)
from kernel.auth import Identity
from kernel.context import request_id_var
from kernel.errors import Conflict, Forbidden, NotFound
from kernel.outbox import notify_channel, outbox_rows
from kernel.scheduler import cancel as cancel_job
from services.marketplace import SERVICE
from services.marketplace.beckn.orders import status_changed
from services.marketplace.metrics import (
    BOOKING_TRANSITIONS,
    BOOKINGS,
    CALLS,
    CANCELLATIONS,
    DEPARTMENT_BOOKINGS,
    EARNINGS,
    UNMATCHED,
    district_of,
)
from services.marketplace.repository.bookings import BookingRepository, create_and_offer
from services.marketplace.repository.catalog import office_of
from services.marketplace.repository.common import Tx
from services.marketplace.repository.workers import WorkerRepository
from services.marketplace.rules import access, otp
from services.marketplace.rules.lifecycle import ACTIVE, DISPUTABLE, RESCHEDULABLE, InvalidTransition, next_status
from services.marketplace.rules.pricing import cancellation_fee, currency_of
from services.marketplace.schemas.bookings import (
    BookingIn,
    CancelIn,
    Codes,
    DisputeIn,
    ExtraIn,
    RatingIn,
    RescheduleIn,
)
from services.marketplace.service import catalog, matching, workers
from services.marketplace.service.common import after_commit, invalid, publish, require_area
from services.marketplace.settings import get_marketplace_settings

CHANNEL_PERMISSION = {"app": access.BOOK, "call_centre": access.BOOK_ASSISTED, "department": access.BOOK_DEPARTMENT,
                      "beckn": access.BOOK}


async def _department_refs(session: Tx, identity: Identity, body: BookingIn) -> dict[str, Any]:
    if body.channel != "department":
        if body.office_code or body.purchase_ref:
            raise invalid("office_code", "only department requisitions carry an office and a purchase reference")
        return {}
    if not body.office_code:
        raise invalid("office_code", "required for a department requisition")
    if not body.purchase_ref:
        raise invalid("purchase_ref", "required for a department requisition")
    office = await office_of(session, body.office_code)
    if office is None or not identity.can_access_area(office["area_code"]):
        raise invalid("office_code", "no such office in your area")
    return {"office_code": office["code"], "department_code": office["department_code"],
            "purchase_ref": body.purchase_ref}


async def create(session: Tx, identity: Identity, body: BookingIn, now: datetime, *,
                 channel: str | None = None, beckn: dict[str, str] | None = None) -> tuple[Mapping[Any, Any], Codes]:
    """Confirm a booking at today's government rate and offer it to the nearest free worker: on the
    request's session (a Beckn confirm) or on a raw transaction (``POST /bookings``; the same statements)."""
    channel = channel or body.channel
    access.require(identity, CHANNEL_PERMISSION[channel])
    require_area(identity, body.area_code)
    settings = get_marketplace_settings()
    slot_start = body.slot_start or now
    if slot_start < now - timedelta(minutes=5):
        raise invalid("slot_start", "the slot is in the past")
    refs = await _department_refs(session, identity, body)
    on = matching.local_time(body.area_code, now).date()
    booking_id = uuid.uuid4()
    codes = Codes(start=otp.new_code(), completion=otp.new_code())
    for attempt in range(3):  # a quote kept by this process that the rate card has since changed: read again
        quote, version = await catalog.booking_quote(session, body.job_code, body.area_code, on, fresh=attempt > 0)
        values: dict[str, Any] = {
            "id": booking_id, "channel": channel,
            "category_code": quote.category_code, "job_code": body.job_code, "area_code": body.area_code,
            "lat": body.lat, "lon": body.lon, "address": body.address,
            "slot_start": slot_start, "slot_end": slot_start + timedelta(minutes=body.slot_minutes),
            "customer_name": body.customer_name, "customer_phone": body.customer_phone,
            "customer_subject": identity.subject, "assisted_by": identity.subject if channel == "call_centre" else None,
            "department_code": None, "office_code": None, **refs, **(beckn or {}),
            "max_radius_km": min(body.max_radius_km or settings.default_radius_km, settings.max_radius_km),
            "priced_on": quote.priced_on, "job_rate_id": quote.job.rate_id, "price_minor": quote.job.amount_minor,
            "visit_charge_minor": quote.visit_charge.amount_minor if quote.visit_charge else 0,
            "terms": quote.terms.model_dump(),
            "start_otp_hash": otp.code_hash(settings.otp_key, booking_id, "start", codes.start),
            "completion_otp_hash": otp.code_hash(settings.otp_key, booking_id, "completion", codes.completion),
            "created_by": identity.subject,
        }
        event = outbox_rows([BookingCreated(
            booking_id=booking_id, channel=channel, category_code=values["category_code"], job_code=body.job_code,
            area_code=body.area_code, slot_start=slot_start, price_minor=values["price_minor"],
            visit_charge_minor=values["visit_charge_minor"], currency=currency_of(body.area_code),
            customer_phone=body.customer_phone, department_code=values["department_code"],
            office_code=values["office_code"], assisted=channel == "call_centre")], source=SERVICE)[0]
        row = await create_and_offer(
            session, values, details={"channel": channel, "price_minor": quote.job.amount_minor},
            request_id=request_id_var.get(), catalog_version=version, event=event,
            notify_channel=notify_channel(SERVICE), nearest=await matching.candidates_query(session, values, now),
            limit=settings.candidates, expires=now + timedelta(seconds=int(quote.terms.offer_timeout_seconds)),
            timeout_kind=matching.OFFER_TIMEOUT, rematch_kind=matching.REMATCH,
            rematch_at=now + timedelta(seconds=settings.rematch_after_seconds))
        if row is not None:
            break
    else:
        raise Conflict("The rate card kept changing while the booking was priced; try again.")
    after_commit(session, BOOKINGS.labels(channel, row["category_code"], district_of(row["area_code"])).inc)
    if channel == "call_centre":
        after_commit(session, CALLS.labels("booked", district_of(row["area_code"])).inc)
    if row["department_code"]:
        after_commit(session, DEPARTMENT_BOOKINGS.labels(row["department_code"]).inc)
    if row["offer_worker_id"] is not None:
        return row, codes
    if row["picked"]:  # its worker was claimed by another booking meanwhile: the next one, as on a re-offer
        return await matching.offer_free(session, row, now), codes
    after_commit(session, UNMATCHED.labels(row["category_code"]).inc)  # nobody: its re-match job is written
    return row, codes


# ---------------------------------------------------------------- who may see and act


def _is_customer(identity: Identity, row: Mapping[Any, Any]) -> bool:
    if row["customer_subject"] == identity.subject:
        return True
    if access.can(identity, access.BOOKINGS_MANAGE) and identity.can_access_area(row["area_code"]):
        return True
    return (row["channel"] == "department" and access.can(identity, access.BOOK_DEPARTMENT)
            and identity.can_access_area(row["area_code"]))


async def _is_worker_side(session: AsyncSession, identity: Identity, worker_id: uuid.UUID | None) -> bool:
    if worker_id is None or not access.can(identity, access.WORKER_ACT):
        return False
    try:
        await workers.reachable(session, identity, worker_id)
    except NotFound:
        return False
    return True


async def visible(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, *, lock: bool = False
                  ) -> RowMapping:
    row = await BookingRepository(session).get(booking_id, lock=lock)
    if row is None or not identity.can_access_area(row["area_code"]):
        raise NotFound("No such booking in your reach.")
    if _is_customer(identity, row) or (access.can(identity, access.BOOKINGS_READ_ALL)):
        return row
    if await _is_worker_side(session, identity, row["worker_id"] or row["offer_worker_id"]):
        return row
    raise NotFound("No such booking in your reach.")


async def _as_customer(session: AsyncSession, identity: Identity, booking_id: uuid.UUID) -> RowMapping:
    row = await visible(session, identity, booking_id, lock=True)
    if not _is_customer(identity, row):
        raise Forbidden("Only the customer who booked (or the call centre, or the booking office) may do this.")
    return row


async def _as_worker(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, *, offered: bool = False
                     ) -> RowMapping:
    row = await visible(session, identity, booking_id, lock=True)
    worker_id = row["offer_worker_id"] if offered else row["worker_id"]
    if not await _is_worker_side(session, identity, worker_id):
        raise Forbidden("Only the worker this booking is with (or its vendor) may do this.")
    return row


async def _move(session: AsyncSession, row: Mapping[Any, Any], action: str, actor: str,
                values: dict[str, Any] | None = None, *, now: datetime,
                details: dict[str, Any] | None = None) -> RowMapping:
    _require_action(row, action)
    to_status = next_status(row["status"], action)
    await matching.record(session, row, to_status, action, actor, worker_id=row["worker_id"], details=details)
    moved = await BookingRepository(session).update(row["id"], {"status": to_status, **(values or {})})
    after_commit(session, BOOKING_TRANSITIONS.labels(action, to_status).inc)
    await status_changed(session, moved, now)
    return moved


# ---------------------------------------------------------------- the worker's side


async def accept(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, now: datetime) -> RowMapping:
    row = await _as_worker(session, identity, booking_id, offered=True)
    if row["status"] == "offered" and row["offer_expires_at"] is not None and now >= row["offer_expires_at"]:
        raise Conflict("The offer has expired; it has gone or will go to the next worker.")
    worker_id, worker = row["offer_worker_id"], await WorkerRepository(session).get(row["offer_worker_id"])
    assert worker is not None
    row = await _move(session, {**row, "worker_id": worker_id}, "accept", identity.subject, {
        "worker_id": worker_id, "vendor_id": worker["vendor_id"], "offer_worker_id": None, "offer_expires_at": None,
        "assigned_at": now}, now=now)
    await WorkerRepository(session).take_job(worker_id, booking_id)
    await cancel_job(session, SERVICE, kind=matching.OFFER_TIMEOUT, key=str(booking_id))
    await publish(session, BookingAssigned(
        booking_id=booking_id, worker_id=worker_id, vendor_id=worker["vendor_id"], worker_name=worker["name"],
        worker_phone=worker["phone"], customer_phone=row["customer_phone"], area_code=row["area_code"],
        address=row["address"], slot_start=row["slot_start"]))
    return row


async def decline(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, now: datetime) -> RowMapping:
    row = await _as_worker(session, identity, booking_id, offered=True)
    if row["status"] != "offered":
        raise Conflict(f"The booking is {row['status']}, not offered.", status_now=row["status"])
    row = await matching.withdraw_offer(session, row, "decline", identity.subject)
    return await matching.offer_next(session, row, now)


async def step(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, action: str,
               now: datetime) -> RowMapping:
    """depart (en route) or arrive (at location)."""
    row = await _as_worker(session, identity, booking_id)
    return await _move(session, row, action, identity.subject, now=now)


def _require_action(row: Mapping[Any, Any], action: str) -> None:
    try:
        next_status(row["status"], action)
    except InvalidTransition as exc:
        raise Conflict(str(exc), status_now=row["status"]) from exc


async def _check_code(session: AsyncSession, row: RowMapping, purpose: str, code: str) -> None:
    settings = get_marketplace_settings()
    repo = BookingRepository(session)
    failures = await repo.otp_failures(row["id"])
    if failures >= otp.MAX_FAILURES:
        raise Conflict("Too many wrong codes: the booking is locked; the call centre can help.",
                       status_now=row["status"])
    stored = row["start_otp_hash"] if purpose == "start" else row["completion_otp_hash"]
    if not otp.matches(settings.otp_key, row["id"], purpose, code, stored):
        await repo.record_otp_failure(row["id"], purpose)
        raise invalid("otp", f"wrong {purpose} code ({otp.MAX_FAILURES - failures - 1} tries left)")


async def start(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, code: str,
                now: datetime) -> RowMapping:
    """The customer's start code, read out at the door, opens the job."""
    row = await _as_worker(session, identity, booking_id)
    _require_action(row, "start")
    await _check_code(session, row, "start", code)
    return await _move(session, row, "start", identity.subject, now=now)


async def complete(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, code: str,
                   now: datetime) -> RowMapping:
    row = await _as_worker(session, identity, booking_id)
    _require_action(row, "complete")
    await _check_code(session, row, "completion", code)
    row = await _move(session, row, "complete", identity.subject, {"completed_at": now}, now=now)
    await WorkerRepository(session).finish_job(row["worker_id"], completed=True)
    earned, currency = row["price_minor"] + row["extras_minor"], currency_of(row["area_code"])
    after_commit(session, lambda: EARNINGS.labels(row["category_code"], district_of(row["area_code"]),
                                                  currency).inc(earned))
    await publish(session, BookingCompleted(
        booking_id=row["id"], worker_id=row["worker_id"], vendor_id=row["vendor_id"],
        category_code=row["category_code"], area_code=row["area_code"],
        amount_minor=earned, currency=currency,
        department_code=row["department_code"],
        customer_phone=row["customer_phone"], completed_at=now))
    return row


async def add_extra(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, body: ExtraIn) -> RowMapping:
    """Extra work found on site, priced from the rate card as it stood when the booking was confirmed."""
    row = await _as_worker(session, identity, booking_id)
    if row["status"] not in ("at_location", "in_progress"):
        raise Conflict("Extra work is added at the location or during the job.", status_now=row["status"])
    item, chosen = await catalog.price(session, body.item_code, row["area_code"], row["priced_on"], "item_code")
    if item["kind"] != "extra" or item["category_code"] != row["category_code"]:
        raise invalid("item_code", f"not an extra-work item of {row['category_code']}")
    amount = chosen.amount_minor * body.quantity
    await BookingRepository(session).add_extra({
        "booking_id": row["id"], "item_code": item["code"], "rate_id": chosen.id, "quantity": body.quantity,
        "unit_minor": chosen.amount_minor, "amount_minor": amount, "added_by": identity.subject})
    await matching.record(session, row, row["status"], "extra_work", identity.subject, worker_id=row["worker_id"],
                          details={"item_code": item["code"], "quantity": body.quantity, "amount_minor": amount})
    return await BookingRepository(session).update(row["id"], {"extras_minor": row["extras_minor"] + amount})


# ---------------------------------------------------------------- the customer's side


async def cancel(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, body: CancelIn,
                 now: datetime) -> RowMapping:
    if body.by == "provider":
        return await _provider_cancel(session, identity, booking_id, body, now)
    row = await _as_customer(session, identity, booking_id)
    return await cancel_row(session, row, "customer", body.reason, identity.subject, now)


async def cancel_row(session: AsyncSession, row: RowMapping, by: str, reason: str, actor: str,
                     now: datetime) -> RowMapping:
    try:
        next_status(row["status"], "cancel")
        fee = cancellation_fee(row["status"], row["terms"], slot_start=row["slot_start"], now=now,
                               visit_charge_minor=row["visit_charge_minor"], by=by)
    except (InvalidTransition, ValueError) as exc:
        raise Conflict(f"A booking that is {row['status']} can no longer be cancelled.",
                       status_now=row["status"]) from exc
    workers_repo = WorkerRepository(session)
    if row["status"] == "offered":
        await workers_repo.release_offer(row["offer_worker_id"], row["id"])
    elif row["status"] in ACTIVE:
        await workers_repo.finish_job(row["worker_id"], completed=False)
    await cancel_job(session, SERVICE, kind=matching.OFFER_TIMEOUT, key=str(row["id"]))
    await cancel_job(session, SERVICE, kind=matching.REMATCH, key=str(row["id"]))
    before = row["status"]
    after_commit(session, CANCELLATIONS.labels(by, before).inc)
    row = await _move(session, row, "cancel", actor, {
        "cancelled_by": by, "cancel_reason": reason, "cancellation_fee_minor": fee.minor, "cancelled_at": now,
        "offer_worker_id": None, "offer_expires_at": None}, now=now, details={"fee_minor": fee.minor, "rule": fee.rule})
    await publish(session, BookingCancelled(
        booking_id=row["id"], cancelled_by=by, status_before=before, reason=reason,  # type: ignore[arg-type]
        fee_minor=fee.minor, currency=currency_of(row["area_code"]), worker_id=row["worker_id"],
        customer_phone=row["customer_phone"],
        area_code=row["area_code"]))
    return row


async def _provider_cancel(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, body: CancelIn,
                           now: datetime) -> RowMapping:
    """The worker's side drops the job: before leaving it goes to the next worker; on the way or at
    the door the booking is cancelled with no fee to the customer."""
    row = await _as_worker(session, identity, booking_id)
    if row["status"] == "assigned":
        await WorkerRepository(session).finish_job(row["worker_id"], completed=False)
        row = await _move(session, row, "withdraw", identity.subject, {
            "worker_id": None, "vendor_id": None, "assigned_at": None,
            "tried_workers": [*row["tried_workers"], row["worker_id"]]}, now=now, details={"reason": body.reason})
        return await matching.offer_next(session, row, now)
    return await cancel_row(session, row, "provider", body.reason, identity.subject, now)


async def reschedule(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, body: RescheduleIn,
                     now: datetime) -> RowMapping:
    row = await _as_customer(session, identity, booking_id)
    if row["status"] not in RESCHEDULABLE:
        raise Conflict(f"A booking that is {row['status']} cannot be rescheduled.", status_now=row["status"])
    if body.slot_start < now:
        raise invalid("slot_start", "the new slot is in the past")
    end = body.slot_start + timedelta(minutes=body.slot_minutes)
    await matching.record(session, row, row["status"], "reschedule", identity.subject, worker_id=row["worker_id"],
                          details={"from": row["slot_start"].isoformat(), "to": body.slot_start.isoformat()})
    row = await BookingRepository(session).update(row["id"], {"slot_start": body.slot_start, "slot_end": end})
    # The worker holding (or offered) the job keeps it only if their week and that day's exceptions
    # cover the new slot; otherwise they are released and the job goes to the next worker.
    holder = row["worker_id"] if row["status"] == "assigned" else row["offer_worker_id"]
    if holder is None or await workers.works_at(session, holder, matching.local_time(row["area_code"],
                                                                                     body.slot_start)):
        return row
    if row["status"] == "offered":
        row = await matching.withdraw_offer(session, row, "reschedule_release", identity.subject)
    else:
        await WorkerRepository(session).finish_job(holder, completed=False)
        row = await _move(session, row, "reschedule_release", identity.subject, {
            "worker_id": None, "vendor_id": None, "assigned_at": None,
            "tried_workers": [*row["tried_workers"], holder]},
            now=now, details={"worker_id": str(holder), "reason": "not on shift at the new slot"})
    return await matching.offer_next(session, row, now)


async def rate(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, body: RatingIn,
               now: datetime) -> RowMapping:
    row = await _as_customer(session, identity, booking_id)
    row = await _move(session, row, "rate", identity.subject, {"rating": body.rating, "rating_comment": body.comment},
                      now=now)
    await WorkerRepository(session).add_rating(row["worker_id"], body.rating)
    await publish(session, RatingPosted(booking_id=row["id"], worker_id=row["worker_id"], vendor_id=row["vendor_id"],
                                        rating=body.rating, comment=body.comment))
    return row


async def dispute(session: AsyncSession, identity: Identity, booking_id: uuid.UUID, body: DisputeIn) -> uuid.UUID:
    """Open a complaint: the tickets service turns ``marketplace.complaint.raised.v1`` into a ticket."""
    row = await _as_customer(session, identity, booking_id)
    if row["status"] not in DISPUTABLE:
        raise Conflict("A booking with no worker yet has nothing to dispute; cancel it instead.",
                       status_now=row["status"])
    if row["dispute_status"] == "open":
        raise Conflict("A complaint about this booking is already open.")
    complaint_id = uuid.uuid4()
    await matching.record(session, row, row["status"], "dispute", identity.subject, worker_id=row["worker_id"],
                          details={"complaint_id": str(complaint_id), "category": body.category})
    await BookingRepository(session).update(row["id"], {"dispute_status": "open"})
    await publish(session, ComplaintRaised(
        complaint_id=complaint_id, booking_id=row["id"], area_code=row["area_code"], category=body.category,
        description=body.description, raised_by=identity.subject, channel=row["channel"],
        worker_id=row["worker_id"], vendor_id=row["vendor_id"], customer_phone=row["customer_phone"]))
    return complaint_id
