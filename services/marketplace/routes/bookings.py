"""Booking routes: create on a channel, the worker's and the customer's actions, history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status

from kernel.db import DbSession, raw_transaction
from services.marketplace.repository.bookings import BookingRepository
from services.marketplace.repository.common import RawTx
from services.marketplace.routes.common import BookingId, Limit, Now, Offset, Reader, Writer
from services.marketplace.rules import access
from services.marketplace.schemas.bookings import (
    BookingIn,
    BookingOut,
    CancelIn,
    DisputeIn,
    DisputeOut,
    ExtraIn,
    OtpIn,
    RatingIn,
    RescheduleIn,
    TransitionOut,
)
from services.marketplace.schemas.common import Page
from services.marketplace.service import bookings
from services.marketplace.service.views import booking_out, booking_summary

router = APIRouter(prefix="/bookings", tags=["bookings"])
Status = Literal["requested", "offered", "assigned", "en_route", "at_location", "in_progress", "completed", "rated",
                 "cancelled"]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BookingOut,
             summary="Book the nearest available worker at the government rate (app, call centre or department)")
async def create_booking(body: BookingIn, request: Request, identity: Writer, now: Now) -> BookingOut:
    """Book a job (a job item of the rate card) at a place and slot at today's government rate: the
    nearest available worker of the trade gets an offer and has the category's time limit to accept
    before it moves to the next. The answer carries the customer's start and completion codes (only
    here): the worker needs them to start and to finish. Channels: `app` (a citizen's app or portal:
    `marketplace:book`, or any client with `marketplace:write`), `call_centre` (booked for a caller:
    `marketplace:book_assisted`), `department` (against an office with a purchase reference:
    `marketplace:book_department`).

    **Who:** `marketplace:write` and the channel's permission, for an area in your scope.

    **Errors:** 403 without the channel's permission, or the area is outside your scope; 422 an
    unknown job or no rate for it there, a slot in the past, a department booking without an office
    in your area or a purchase reference.
    """
    # The hot path: its own transaction on raw asyncpg, no ORM session (kernel.db.raw_transaction). The
    # booking's statements were already down to two (docs/marketplace.md); the session's machinery
    # around them (the session, the checkout through it, BEGIN and COMMIT through SQLAlchemy's greenlet
    # bridge, the after-commit events) was the largest part left of its CPU. Measured with
    # `python -m bench marketplace` (100,000 workers, 16 connections, load 1.5-3.3): 344 and 342 bookings/s at
    # 2.10 ms of service CPU each on the session, 514 and 535/s at 1.15 ms on raw asyncpg (docs/marketplace.md).
    async with raw_transaction(request.app.state.runtime.engine) as conn:
        tx = RawTx(conn)
        row, codes = await bookings.create(tx, identity, body, now)
    for counted in tx.after:  # the metrics, once committed
        counted()
    out = booking_summary(row)  # a new booking has no extra work yet
    out.codes = codes
    return out


@router.get("", response_model=Page[BookingOut],
            summary="Bookings you may see (your own; all in your area for the call centre and auditors), newest first")
async def list_bookings(session: DbSession, identity: Reader,
                        status_: Annotated[Status | None, Query(alias="status", description="Only this state")] = None,
                        channel: Annotated[Literal["app", "call_centre", "department", "beckn"] | None, Query(
                            description="Only bookings made on this channel")] = None,
                        since: Annotated[datetime | None, Query(description="Only bookings created since")] = None,
                        limit: Limit = 50, offset: Offset = 0) -> Page[BookingOut]:
    """Your bookings, newest first; the call centre and auditors (`marketplace:bookings_read_all`) see
    every booking in their area. Filter by state, channel and creation time.

    **Who:** `marketplace:read`.

    **Errors:** 422 an unknown state or channel, a malformed time.
    """
    own = None if access.can(identity, access.BOOKINGS_READ_ALL) else identity.subject
    rows, total = await BookingRepository(session).page(identity.area_scope, own, status=status_, channel=channel,
                                                        since=since, limit=limit, offset=offset)
    return Page(items=[booking_summary(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{booking_id}", response_model=BookingOut, summary="A booking")
async def get_booking(booking_id: BookingId, session: DbSession, identity: Reader) -> BookingOut:
    """One booking: state, job, place and slot, masked customer phone, worker and vendor, the price
    (job, visit charge, extras, total, in minor units), terms, rating, dispute, and `next_actions`.

    **Who:** `marketplace:read`: the customer, the worker's side, the call centre or auditors in the
    area, the department's officers.

    **Errors:** 404 no such booking for you.
    """
    return await booking_out(session, await bookings.visible(session, identity, booking_id))


@router.get("/{booking_id}/transitions", response_model=list[TransitionOut],
            summary="Every recorded transition of the booking, oldest first")
async def transitions(booking_id: BookingId, session: DbSession, identity: Reader) -> list[TransitionOut]:
    """Every recorded step of the booking, oldest first: offers, acceptances, declines and timeouts,
    departures, arrivals, codes, cancellations, with who and when.

    **Who:** `marketplace:read`: whoever may see the booking.

    **Errors:** 404 no such booking for you.
    """
    await bookings.visible(session, identity, booking_id)
    return [TransitionOut.model_validate(dict(r)) for r in await BookingRepository(session).transitions(booking_id)]


@router.post("/{booking_id}/accept", response_model=BookingOut, summary="The offered worker accepts")
async def accept(booking_id: BookingId, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    """The offered worker takes the job: the booking becomes `assigned` to them.

    **Who:** `marketplace:write` and `marketplace:worker_act`: the assigned worker's own login or their vendor.

    **Errors:** 403 not the offered worker's side; 404 no such booking for you; 409 not offered to this
    worker now, or the offer has expired.
    """
    return await booking_out(session, await bookings.accept(session, identity, booking_id, now))


@router.post("/{booking_id}/decline", response_model=BookingOut,
             summary="The offered worker declines; the offer goes to the next worker")
async def decline(booking_id: BookingId, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    """The offered worker turns the job down: the offer goes to the next nearest worker.

    **Who:** `marketplace:write` and `marketplace:worker_act`: the assigned worker's own login or their vendor.

    **Errors:** 403 not the offered worker's side; 404 no such booking for you; 409 the booking is not
    offered to this worker now.
    """
    return await booking_out(session, await bookings.decline(session, identity, booking_id, now))


@router.post("/{booking_id}/depart", response_model=BookingOut, summary="The worker is on the way")
async def depart(booking_id: BookingId, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    """The assigned worker is on the way (`en_route`); a cancellation now costs the visit charge.

    **Who:** `marketplace:write` and `marketplace:worker_act`: the assigned worker's own login or their vendor.

    **Errors:** 403 not the assigned worker's side; 404 no such booking for you; 409 not allowed from
    the booking's state.
    """
    return await booking_out(session, await bookings.step(session, identity, booking_id, "depart", now))


@router.post("/{booking_id}/arrive", response_model=BookingOut, summary="The worker is at the location")
async def arrive(booking_id: BookingId, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    """The worker is at the place (`at_location`): extras can be added; the customer reads out the start
    code next.

    **Who:** `marketplace:write` and `marketplace:worker_act`: the assigned worker's own login or their vendor.

    **Errors:** 403 not the assigned worker's side; 404 no such booking for you; 409 not allowed from
    the booking's state.
    """
    return await booking_out(session, await bookings.step(session, identity, booking_id, "arrive", now))


@router.post("/{booking_id}/start", response_model=BookingOut, summary="Start the job with the customer's start code")
async def start(booking_id: BookingId, body: OtpIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    """Start the job with the customer's 4-digit start code (`in_progress`). Wrong codes are counted;
    too many lock the booking.

    **Who:** `marketplace:write` and `marketplace:worker_act`: the assigned worker's own login or their vendor.

    **Errors:** 403 not the assigned worker's side; 404 no such booking for you; 409 not at the
    location, or locked after too many wrong codes; 422 a wrong code (tries left are said).
    """
    return await booking_out(session, await bookings.start(session, identity, booking_id, body.otp, now))


@router.post("/{booking_id}/extras", response_model=BookingOut,
             summary="Add extra work found on site, at the rate card's price")
async def add_extra(booking_id: BookingId, body: ExtraIn, session: DbSession, identity: Writer) -> BookingOut:
    """Add extra work found on site (an extra item of the job's category, with a quantity) at the rate
    card's price: it is added to the total.

    **Who:** `marketplace:write` and `marketplace:worker_act`: the assigned worker's own login or their vendor.

    **Errors:** 403 not the assigned worker's side; 404 no such booking for you; 409 not at the location
    or in progress; 422 not an extra item of this category, or no rate for it.
    """
    return await booking_out(session, await bookings.add_extra(session, identity, booking_id, body))


@router.post("/{booking_id}/complete", response_model=BookingOut,
             summary="Finish the job with the customer's completion code")
async def complete(booking_id: BookingId, body: OtpIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    """Finish the job with the customer's 4-digit completion code (`completed`); the worker is free for
    the next offer and the earnings count.

    **Who:** `marketplace:write` and `marketplace:worker_act`: the assigned worker's own login or their vendor.

    **Errors:** 403 not the assigned worker's side; 404 no such booking for you; 409 not in progress,
    or locked after too many wrong codes; 422 a wrong code.
    """
    return await booking_out(session, await bookings.complete(session, identity, booking_id, body.otp, now))


@router.post("/{booking_id}/cancel", response_model=BookingOut,
             summary="Cancel (free before assignment; the category's terms after)")
async def cancel(booking_id: BookingId, body: CancelIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    """Cancel: free before a worker is assigned (and until the category's free minutes before the slot),
    then the category's fee; `by: provider` is the worker's side withdrawing (the job goes to the
    next worker).

    **Who:** `marketplace:write`: the customer who booked, the call centre (`marketplace:bookings_manage`) in
    its area, or a department's officer for its department's bookings, or the worker's side with `by: provider`.

    **Errors:** 403 not yours to cancel; 404 no such booking for you; 409 already in progress, completed
    or cancelled.
    """
    return await booking_out(session, await bookings.cancel(session, identity, booking_id, body, now))


@router.post("/{booking_id}/reschedule", response_model=BookingOut, summary="Move the slot (before the worker leaves)")
async def reschedule(booking_id: BookingId, body: RescheduleIn, session: DbSession, identity: Writer,
                     now: Now) -> BookingOut:
    """Move the slot, before the worker leaves: the assigned worker keeps it if their shifts and days
    off allow, otherwise it is offered again.

    **Who:** `marketplace:write`: the customer who booked, the call centre (`marketplace:bookings_manage`) in
    its area, or a department's officer for its department's bookings.

    **Errors:** 403 not yours; 404 no such booking for you; 409 the worker is on the way or later; 422
    a slot in the past.
    """
    return await booking_out(session, await bookings.reschedule(session, identity, booking_id, body, now))


@router.post("/{booking_id}/rating", response_model=BookingOut, summary="Rate the completed job (1-5)")
async def rate(booking_id: BookingId, body: RatingIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    """The customer rates the completed job from 1 to 5, with a comment; it counts in the worker's
    rating and ranking.

    **Who:** `marketplace:write`: the customer who booked, the call centre (`marketplace:bookings_manage`) in
    its area, or a department's officer for its department's bookings.

    **Errors:** 403 not yours; 404 no such booking for you; 409 not completed, or already rated.
    """
    return await booking_out(session, await bookings.rate(session, identity, booking_id, body, now))


@router.post("/{booking_id}/disputes", status_code=status.HTTP_201_CREATED, response_model=DisputeOut,
             summary="Raise a complaint; the tickets service opens a ticket from its event")
async def dispute(booking_id: BookingId, body: DisputeIn, session: DbSession, identity: Writer) -> DisputeOut:
    """Raise a complaint about the job (fulfilment, the worker, payment ...); the tickets service opens
    a ticket from `marketplace.complaint.raised.v1` and the booking shows it as disputed.

    **Who:** `marketplace:write`: the customer who booked, the call centre (`marketplace:bookings_manage`) in
    its area, or a department's officer for its department's bookings.

    **Errors:** 403 not yours; 404 no such booking for you; 409 no worker was ever assigned (cancel it
    instead), or a complaint is already open.
    """
    complaint_id = await bookings.dispute(session, identity, booking_id, body)
    return DisputeOut(complaint_id=complaint_id, booking_id=booking_id, status="open")
