"""Tickets: raise, list, read, assign, move through their states, comment, escalate, rate."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from kernel.db import DbSession
from services.tickets.routes.common import Limit, Now, Offset, Reader, Writer
from services.tickets.rules.states import Action, Status
from services.tickets.schemas.common import Page
from services.tickets.schemas.tickets import (
    AssignIn,
    CommentIn,
    EscalateIn,
    RatingIn,
    SlaClock,
    TicketIn,
    TicketOut,
    TimelineEntry,
    TransitionIn,
)
from services.tickets.service import escalation, tickets, views
from services.tickets.service.common import ticket_out, visible_ticket

# Mounted at the service root: the gateway serves these at /tickets and /tickets/{ticket_id}/...
router = APIRouter(tags=["tickets"])


def _out(row: Mapping[Any, Any]) -> TicketOut:
    return TicketOut.model_validate(ticket_out(row))


@router.post("/", status_code=status.HTTP_201_CREATED, response_model=TicketOut,
             summary="Raise a ticket; it is routed to the help desk of the area and category, and the "
                     "tracking number goes to the reporter by SMS")
async def create_ticket(body: TicketIn, session: DbSession, identity: Writer, now: Now) -> TicketOut:
    return _out(await tickets.create_ticket(session, identity, body, now))


@router.get("/", response_model=Page[TicketOut],
            summary="Tickets you may see (agents: your desks' areas; reporters: your own), newest first")
async def list_tickets(
    session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0,
    ticket_status: Annotated[Status | None, Query(alias="status")] = None, desk_id: uuid.UUID | None = None,
) -> Page[TicketOut]:
    rows, total = await tickets.list_tickets(session, identity, status=ticket_status, desk_id=desk_id,
                                             limit=limit, offset=offset)
    return Page(items=[_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{ticket_id:uuid}", response_model=TicketOut, summary="A ticket")
async def get_ticket(ticket_id: uuid.UUID, session: DbSession, identity: Reader) -> TicketOut:
    return _out(await visible_ticket(session, identity, ticket_id))


@router.post("/{ticket_id:uuid}/transitions", response_model=TicketOut,
             summary="Move the ticket: start, wait_on_reporter (pauses the SLA), reporter_replied, resolve, "
                     "close, reopen. Anything else from its state is refused with 409")
async def transition(ticket_id: uuid.UUID, body: TransitionIn, session: DbSession, identity: Writer,
                     now: Now) -> TicketOut:
    return _out(await tickets.transition(session, identity, ticket_id, Action(body.action), body.note, now))


@router.post("/{ticket_id:uuid}/assignment", response_model=TicketOut,
             summary="Assign or reassign to an agent of its desk")
async def assign(ticket_id: uuid.UUID, body: AssignIn, session: DbSession, identity: Writer, now: Now) -> TicketOut:
    return _out(await tickets.assign(session, identity, ticket_id, body.agent, now))


@router.post("/{ticket_id:uuid}/escalations", response_model=TicketOut,
             summary="Escalate by hand to the next level's desk, with a reason")
async def escalate(ticket_id: uuid.UUID, body: EscalateIn, session: DbSession, identity: Writer,
                   now: Now) -> TicketOut:
    return _out(await escalation.manual_escalate(session, identity, ticket_id, body.reason, now))


@router.post("/{ticket_id:uuid}/comments", response_model=TicketOut,
             summary="A public comment (on the status page) or an internal note (agents only)")
async def comment(ticket_id: uuid.UUID, body: CommentIn, session: DbSession, identity: Writer, now: Now) -> TicketOut:
    return _out(await tickets.comment(session, identity, ticket_id, body.body, body.visibility, now))


@router.post("/{ticket_id:uuid}/rating", response_model=TicketOut,
             summary="Rate the resolution; poor reopens the ticket and escalates it to the next level")
async def rate(ticket_id: uuid.UUID, body: RatingIn, session: DbSession, identity: Writer, now: Now) -> TicketOut:
    return _out(await escalation.rate(session, identity, ticket_id, body.rating, body.comment, now))


@router.get("/{ticket_id:uuid}/timeline", response_model=Page[TimelineEntry],
            summary="Who did what and when, oldest first (reporters see public entries only)")
async def timeline(ticket_id: uuid.UUID, session: DbSession, identity: Reader, limit: Limit = 100,
                   offset: Offset = 0) -> Page[TimelineEntry]:
    rows, total = await views.timeline_page(session, identity, ticket_id, limit=limit, offset=offset)
    return Page(items=[TimelineEntry.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{ticket_id:uuid}/sla", response_model=list[SlaClock],
            summary="Every SLA clock of the ticket, per level: target, used, left, paused, breached")
async def sla(ticket_id: uuid.UUID, session: DbSession, identity: Reader, now: Now) -> list[SlaClock]:
    return [SlaClock.model_validate(c) for c in await views.sla_clocks(session, identity, ticket_id, now)]
