"""Booking routes: create on a channel, the worker's and the customer's actions, history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from kernel.db import DbSession
from services.marketplace.repository.bookings import BookingRepository
from services.marketplace.routes.common import Limit, Now, Offset, Reader, Writer
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
async def create_booking(body: BookingIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    row, codes = await bookings.create(session, identity, body, now)
    out = booking_summary(row)  # a new booking has no extra work yet
    out.codes = codes
    return out


@router.get("", response_model=Page[BookingOut],
            summary="Bookings you may see (your own; all in your area for the call centre and auditors), newest first")
async def list_bookings(session: DbSession, identity: Reader, status_: Annotated[Status | None, Query(alias="status")]
                        = None, channel: Literal["app", "call_centre", "department", "beckn"] | None = None,
                        since: datetime | None = None, limit: Limit = 50, offset: Offset = 0) -> Page[BookingOut]:
    own = None if access.can(identity, access.BOOKINGS_READ_ALL) else identity.subject
    rows, total = await BookingRepository(session).page(identity.area_scope, own, status=status_, channel=channel,
                                                        since=since, limit=limit, offset=offset)
    return Page(items=[booking_summary(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{booking_id}", response_model=BookingOut, summary="A booking")
async def get_booking(booking_id: uuid.UUID, session: DbSession, identity: Reader) -> BookingOut:
    return await booking_out(session, await bookings.visible(session, identity, booking_id))


@router.get("/{booking_id}/transitions", response_model=list[TransitionOut],
            summary="Every recorded transition of the booking, oldest first")
async def transitions(booking_id: uuid.UUID, session: DbSession, identity: Reader) -> list[TransitionOut]:
    await bookings.visible(session, identity, booking_id)
    return [TransitionOut.model_validate(dict(r)) for r in await BookingRepository(session).transitions(booking_id)]


@router.post("/{booking_id}/accept", response_model=BookingOut, summary="The offered worker accepts")
async def accept(booking_id: uuid.UUID, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    return await booking_out(session, await bookings.accept(session, identity, booking_id, now))


@router.post("/{booking_id}/decline", response_model=BookingOut,
             summary="The offered worker declines; the offer goes to the next worker")
async def decline(booking_id: uuid.UUID, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    return await booking_out(session, await bookings.decline(session, identity, booking_id, now))


@router.post("/{booking_id}/depart", response_model=BookingOut, summary="The worker is on the way")
async def depart(booking_id: uuid.UUID, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    return await booking_out(session, await bookings.step(session, identity, booking_id, "depart", now))


@router.post("/{booking_id}/arrive", response_model=BookingOut, summary="The worker is at the location")
async def arrive(booking_id: uuid.UUID, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    return await booking_out(session, await bookings.step(session, identity, booking_id, "arrive", now))


@router.post("/{booking_id}/start", response_model=BookingOut, summary="Start the job with the customer's start code")
async def start(booking_id: uuid.UUID, body: OtpIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    return await booking_out(session, await bookings.start(session, identity, booking_id, body.otp, now))


@router.post("/{booking_id}/extras", response_model=BookingOut,
             summary="Add extra work found on site, at the rate card's price")
async def add_extra(booking_id: uuid.UUID, body: ExtraIn, session: DbSession, identity: Writer) -> BookingOut:
    return await booking_out(session, await bookings.add_extra(session, identity, booking_id, body))


@router.post("/{booking_id}/complete", response_model=BookingOut,
             summary="Finish the job with the customer's completion code")
async def complete(booking_id: uuid.UUID, body: OtpIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    return await booking_out(session, await bookings.complete(session, identity, booking_id, body.otp, now))


@router.post("/{booking_id}/cancel", response_model=BookingOut,
             summary="Cancel (free before assignment; the category's terms after)")
async def cancel(booking_id: uuid.UUID, body: CancelIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    return await booking_out(session, await bookings.cancel(session, identity, booking_id, body, now))


@router.post("/{booking_id}/reschedule", response_model=BookingOut, summary="Move the slot (before the worker leaves)")
async def reschedule(booking_id: uuid.UUID, body: RescheduleIn, session: DbSession, identity: Writer,
                     now: Now) -> BookingOut:
    return await booking_out(session, await bookings.reschedule(session, identity, booking_id, body, now))


@router.post("/{booking_id}/rating", response_model=BookingOut, summary="Rate the completed job (1-5)")
async def rate(booking_id: uuid.UUID, body: RatingIn, session: DbSession, identity: Writer, now: Now) -> BookingOut:
    return await booking_out(session, await bookings.rate(session, identity, booking_id, body, now))


@router.post("/{booking_id}/disputes", status_code=status.HTTP_201_CREATED, response_model=DisputeOut,
             summary="Raise a complaint; the tickets service opens a ticket from its event")
async def dispute(booking_id: uuid.UUID, body: DisputeIn, session: DbSession, identity: Writer) -> DisputeOut:
    complaint_id = await bookings.dispute(session, identity, booking_id, body)
    return DisputeOut(complaint_id=complaint_id, booking_id=booking_id, status="open")
