"""Tickets: raise, list, read, assign, move through their states, comment, escalate, rate."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from kernel.db import DbSession
from services.tickets.routes.common import Limit, Now, Offset, Reader, Statements, TicketId, Writer
from services.tickets.rules.states import Action, Status
from services.tickets.schemas.common import Page
from services.tickets.schemas.tickets import (
    AssignIn,
    CommentIn,
    EscalateIn,
    IntakeBatchIn,
    IntakeBatchOut,
    IntakeCreated,
    RatingIn,
    SlaClock,
    TicketIn,
    TicketOut,
    TimelineEntry,
    TransitionIn,
)
from services.tickets.service import escalation, tickets, views
from services.tickets.service.common import status_page_path, ticket_out, visible_ticket

# Mounted at the service root: the gateway serves these at /tickets and /tickets/{ticket_id}/...
router = APIRouter(tags=["tickets"])


def _out(row: Mapping[Any, Any]) -> TicketOut:
    return TicketOut.model_validate(ticket_out(row))


@router.post("/", status_code=status.HTTP_201_CREATED, response_model=TicketOut,
             summary="Raise a ticket; it is routed to the help desk of the area and category, and the "
                     "tracking number goes to the reporter by SMS")
async def create_ticket(body: TicketIn, session: DbSession, identity: Writer, now: Now,
                        statements: Statements) -> TicketOut:
    """Raise a grievance or support ticket for an area: a category, a title and description, the
    reporter (the citizen a volunteer helps, or the worker herself, with a phone for the SMS), the
    language for the SMS and status page, optionally the registry person or facility concerned and
    attachment references. It goes to the nearest desk at or above the area that takes the category,
    gets a tracking number and its SLA clocks start; the reporter gets the number by SMS.

    **Who:** `tickets:write` (field workers, ward members, officers, help desks, apps), for an area in
    your scope.

    **Errors:** 403 the area is outside your scope; 422 no desk takes this category for the area, a
    malformed phone, language or attachment.
    """
    # Measured (bench tickets.create_rate, docs/tickets.md): BEGIN, the routing query, the insert and COMMIT
    # were four round trips; with cached routes and an autocommit statement (shared with the creations queued
    # at the same moment: repository/intake.py), one.
    return _out(await tickets.create_ticket(session, identity, body, now, pool=statements))


@router.post("/batches", status_code=status.HTTP_201_CREATED, response_model=IntakeBatchOut,
             summary="Raise up to 500 tickets collected offline in one request (routed, numbered and sent by "
                     "SMS like single ones)")
async def create_batch(body: IntakeBatchIn, session: DbSession, identity: Writer, now: Now) -> IntakeBatchOut:
    """An intake batch: tickets a village digital centre or a call centre collected, each exactly as
    `POST /tickets` takes it, plus an optional `client_ref` of yours. All of them are raised or none:
    the whole batch is one transaction. Sending a batch again is safe: a ticket whose `client_ref` you
    already used is not raised twice, the existing one comes back in its place.

    **Who:** `tickets:write`, every ticket's area in your scope.

    **Errors:** 403 an area outside your scope; 422 naming `tickets.<i>.<field>` (a malformed ticket,
    or no desk for its area and category).
    """
    refs = [f"intake:{identity.subject}:{t.client_ref}" if t.client_ref else None for t in body.tickets]
    created = await tickets.create_tickets(session, identity, body.tickets, now, source_refs=refs,
                                           field="tickets.")
    return IntakeBatchOut(items=[IntakeCreated(
        id=t["id"], tracking_number=t["tracking_number"], client_ref=sent.client_ref, desk_id=t["desk_id"],
        level=t["level"], status_page=status_page_path(t["tracking_number"])) for t, sent in zip(
            created, body.tickets, strict=True)])


@router.get("/", response_model=Page[TicketOut],
            summary="Tickets you may see (agents: your desks' areas; reporters: your own), newest first")
async def list_tickets(
    session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0,
    ticket_status: Annotated[Status | None, Query(alias="status", description="Only tickets in this state")] = None,
    desk_id: Annotated[uuid.UUID | None, Query(description="Only tickets now at this desk")] = None,
) -> Page[TicketOut]:
    """The tickets you may see, newest first: an agent (`tickets:work`) sees the tickets of desks in
    their area; anyone else the tickets they raised. Filter by status and desk.

    **Who:** `tickets:read`.

    **Errors:** 422 an unknown status.
    """
    rows, total = await tickets.list_tickets(session, identity, status=ticket_status, desk_id=desk_id,
                                             limit=limit, offset=offset)
    return Page(items=[_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{ticket_id:uuid}", response_model=TicketOut, summary="A ticket")
async def get_ticket(ticket_id: TicketId, session: DbSession, identity: Reader) -> TicketOut:
    """One ticket with its status, level, desk, assignee, masked reporter phone, the actions you may
    take now (`allowed_actions`) and the public status page link.

    **Who:** `tickets:read`: an agent of a desk in the ticket's area, or its reporter.

    **Errors:** 404 no such ticket for you (also when it exists but is not yours to see).
    """
    return _out(await visible_ticket(session, identity, ticket_id))


@router.post("/{ticket_id:uuid}/transitions", response_model=TicketOut,
             summary="Move the ticket: start, wait_on_reporter (pauses the SLA), reporter_replied, resolve, "
                     "close, reopen. Anything else from its state is refused with 409")
async def transition(ticket_id: TicketId, body: TransitionIn, session: DbSession, identity: Writer,
                     now: Now) -> TicketOut:
    """Move the ticket through its states. Agents: `start`, `wait_on_reporter` (pauses the SLA until
    the reporter replies), `resolve`, `close`, `reopen`; the reporter: `reporter_replied`, `close`,
    `reopen` (a resolved ticket; a closed one reopens only by a poor rating). An agent's first visible
    action meets the first-response target. The note goes on the public timeline.

    **Who:** `tickets:write`; the ticket's reporter for the reporter's actions, an agent
    (`tickets:work`) of its desk's area for the others.

    **Errors:** 403 an action that is not yours; 404 no such ticket for you; 409 not allowed from the
    ticket's state (the answer lists what is).
    """
    return _out(await tickets.transition(session, identity, ticket_id, Action(body.action), body.note, now))


@router.post("/{ticket_id:uuid}/assignment", response_model=TicketOut,
             summary="Assign or reassign to an agent of its desk")
async def assign(ticket_id: TicketId, body: AssignIn, session: DbSession, identity: Writer, now: Now) -> TicketOut:
    """Give the ticket to an agent of its current desk (or hand it to another). The assignee sees it in
    their work list; the timeline records the change.

    **Who:** `tickets:write` at the gateway and `tickets:work` (block, district or state help-desk agents,
    call-centre agents, department officers) at the desk's area level or wider.

    **Errors:** 403 you are not an agent; 404 no such ticket for you; 422 the user is not an agent of
    the ticket's desk.
    """
    return _out(await tickets.assign(session, identity, ticket_id, body.agent, now))


@router.post("/{ticket_id:uuid}/escalations", response_model=TicketOut,
             summary="Escalate by hand to the next level's desk, with a reason")
async def escalate(ticket_id: TicketId, body: EscalateIn, session: DbSession, identity: Writer,
                   now: Now) -> TicketOut:
    """Send the ticket up to the desk of the next level (block → district → state) before its deadline,
    with a reason; the new level's SLA clocks start. Missed deadlines escalate on their own.

    **Who:** `tickets:write` at the gateway and `tickets:work` (block, district or state help-desk agents,
    call-centre agents, department officers) at the desk's area level or wider.

    **Errors:** 403 you are not an agent; 404 no such ticket for you; 409 already at the highest level
    with a desk, or a state that cannot escalate.
    """
    return _out(await escalation.manual_escalate(session, identity, ticket_id, body.reason, now))


@router.post("/{ticket_id:uuid}/comments", response_model=TicketOut,
             summary="A public comment (on the status page) or an internal note (agents only)")
async def comment(ticket_id: TicketId, body: CommentIn, session: DbSession, identity: Writer, now: Now) -> TicketOut:
    """Add a comment: `public` (the reporter sees it on the status page; an agent's first one meets the
    first-response target) or `internal` (agents only).

    **Who:** `tickets:write`; internal notes need `tickets:work`.

    **Errors:** 403 an internal note without `tickets:work`; 404 no such ticket for you; 422 an empty
    or over-long body.
    """
    return _out(await tickets.comment(session, identity, ticket_id, body.body, body.visibility, now))


@router.post("/{ticket_id:uuid}/rating", response_model=TicketOut,
             summary="Rate the resolution; poor reopens the ticket and escalates it to the next level")
async def rate(ticket_id: TicketId, body: RatingIn, session: DbSession, identity: Writer, now: Now) -> TicketOut:
    """The reporter rates the resolution (good, average, poor, with a comment). Poor is an appeal: the
    ticket reopens and escalates to the next level.

    **Who:** `tickets:write`: the ticket's reporter, or an agent taking the feedback by phone.

    **Errors:** 403 neither the reporter nor an agent; 404 no such ticket for you; 409 the ticket is
    not resolved or closed.
    """
    return _out(await escalation.rate(session, identity, ticket_id, body.rating, body.comment, now))


@router.get("/{ticket_id:uuid}/timeline", response_model=Page[TimelineEntry],
            summary="Who did what and when, oldest first (reporters see public entries only)")
async def timeline(ticket_id: TicketId, session: DbSession, identity: Reader, limit: Limit = 100,
                   offset: Offset = 0) -> Page[TimelineEntry]:
    """Who did what and when, oldest first: raised, routed, assigned, state changes, comments, SLA
    warnings and breaches, escalations, ratings. Reporters see public entries only.

    **Who:** `tickets:read`: an agent of a desk in the ticket's area, or its reporter.

    **Errors:** 404 no such ticket for you.
    """
    rows, total = await views.timeline_page(session, identity, ticket_id, limit=limit, offset=offset)
    return Page(items=[TimelineEntry.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{ticket_id:uuid}/sla", response_model=list[SlaClock],
            summary="Every SLA clock of the ticket, per level: target, used, left, paused, breached")
async def sla(ticket_id: TicketId, session: DbSession, identity: Reader, now: Now) -> list[SlaClock]:
    """Every SLA clock of the ticket, one per level and kind (first response, resolution): target,
    business time used and left, paused (waiting on the reporter), met or breached.

    **Who:** `tickets:read`: an agent of a desk in the ticket's area, or its reporter.

    **Errors:** 404 no such ticket for you.
    """
    return [SlaClock.model_validate(c) for c in await views.sla_clocks(session, identity, ticket_id, now)]
