"""Escalation to the next level: on an SLA breach (a scheduler job), by hand, or on a poor rating.

"Never twice for one breach": the breach job runs under the ticket's row lock and re-checks the
clock; the escalation row is unique per (ticket, level it leaves), so a second worker, a retried
job or a racing manual escalation finds the slot taken and does nothing, and the event (hence
the SMS) is written only by the transaction that took it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.tickets import TicketEscalated
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden
from kernel.outbox import outbox_rows
from kernel.scheduler import Job
from services.tickets import SERVICE
from services.tickets.metrics import BREACHES, ESCALATIONS
from services.tickets.repository.desks import DeskRepository
from services.tickets.repository.escalations import EscalationStore
from services.tickets.repository.tickets import (
    TicketRepository,
)
from services.tickets.rules import routing
from services.tickets.rules.states import Action, Status
from services.tickets.service.closing import cancel_close
from services.tickets.service.common import SYSTEM, actor_kind, record, require_agent, visible_ticket
from services.tickets.service.sla import clocks
from services.tickets.service.sla.calendar import current_calendar
from services.tickets.service.status_page import LEVEL
from services.tickets.service.tickets import _advance, _desk, base_event, desk_ref, reopened_event


async def desks_around(session: AsyncSession, ticket: Mapping[Any, Any]) -> tuple[RowMapping, RowMapping | None]:
    """(the ticket's desk, the desk it escalates to or None), each with its calendar versions and level policy
    for the ticket's category: one query (the desks on the path up from the ticket's desk)."""
    desks = await DeskRepository(session).on_path_with_terms(ticket["desk_area_code"], ticket["category"])
    current = next((d for d in desks if d["id"] == ticket["desk_id"]), None)
    if current is None:  # the desk was deactivated since: it still holds the ticket
        current = await _desk(session, ticket)
    chosen = routing.next_level([desk_ref(d) for d in desks], desk_ref(current), ticket["category"])
    return current, None if chosen is None else next(d for d in desks if d["id"] == chosen.id)


async def escalate(
    session: AsyncSession, ticket: Mapping[Any, Any], *, cause: str, actor: str, actor_role: str,
    reason: str | None, now: datetime, around: tuple[RowMapping, RowMapping | None] | None = None,
) -> Mapping[Any, Any] | None:
    """Move a locked ticket to the next level's desk; None if there is none or this level already escalated.
    One statement writes the whole move (repository/escalations.py).  ``around``: ``desks_around`` already
    looked up by the caller."""
    desk, target = around or await desks_around(session, ticket)
    if target is None:
        return None
    status = _advance(ticket, Action.ESCALATE)
    calendar = await current_calendar(session, target["calendar_id"], target["calendar_version"],
                                      target["parent_version"])
    terms = clocks.terms_of(target)
    deadlines = {kind: calendar.add(now, terms[kind]) for kind in clocks.KINDS}
    after = dict(ticket) | {"status": status.value, "desk_id": target["id"], "desk_area_code": target["area_code"],
                            "level": target["level"], "level_seq": ticket["level_seq"] + 1}
    event = outbox_rows([TicketEscalated(
        **base_event(after, f"tickets:{ticket['id']}:escalated:{ticket['level_seq']}"), from_desk_id=desk["id"],
        from_level=desk["level"], cause=cause, reason=reason, language=ticket["language"],
        notify_phone=ticket["reporter"].get("phone"), resolution_due_at=deadlines["resolution"],
        level_name=LEVEL.get(target["level"], {}).get(ticket["language"]))], source=SERVICE)[0]
    data = {"cause": cause, "from_level": desk["level"], "to_level": target["level"], "to_desk": target["name"],
            "deadlines": {k: v.isoformat() for k, v in deadlines.items()}}
    updated = await EscalationStore(session).move(
        ticket, desk, target, cause=cause, reason=reason, actor=actor, actor_kind=actor_role, at=now,
        status=status.value, job_kind=clocks.BREACH_JOB, terms=terms, deadlines=deadlines,
        entry_data=json.dumps(data), event=event)
    if updated is not None:
        ESCALATIONS.labels(desk["level"], target["level"], cause).inc()
    return updated


async def manual_escalate(session: AsyncSession, identity: Identity, ticket_id: uuid.UUID, reason: str,
                          now: datetime) -> Mapping[Any, Any]:
    require_agent(identity, "escalate tickets")
    ticket = await visible_ticket(session, identity, ticket_id, lock=True)
    _advance(ticket, Action.ESCALATE)
    updated = await escalate(session, ticket, cause="manual", actor=identity.subject, actor_role="agent",
                             reason=reason, now=now)
    if updated is None:
        raise Conflict("This ticket is at the highest level there is a desk for; it cannot go higher.",
                       type_slug="no-higher-level", title="Nowhere to escalate")
    return updated


async def rate(session: AsyncSession, identity: Identity, ticket_id: uuid.UUID, rating: str, comment: str | None,
               now: datetime) -> Mapping[Any, Any]:
    """The reporter's rating of a resolution.  A poor one reopens the ticket and escalates it (the appeal)."""
    ticket = await visible_ticket(session, identity, ticket_id, lock=True)
    if ticket["raised_by"] != identity.subject and actor_kind(identity) != "agent":
        raise Forbidden("Only the reporter (or an agent taking feedback by phone) may rate a ticket.")
    if ticket["status"] not in (Status.RESOLVED, Status.CLOSED):
        raise Conflict(f"A ticket that is {ticket['status']} cannot be rated; rate it once it is resolved.",
                       type_slug="invalid-transition", title="Transition not allowed", status_now=ticket["status"],
                       allowed=[])
    repo = TicketRepository(session)
    updated = await repo.update(ticket["id"], {"rating": rating, "updated_at": now})
    await record(session, updated, at=now, actor=identity.subject, actor_role=actor_kind(identity), kind="rated",
                 public=True, body=comment, data={"rating": rating})
    if rating != "poor":
        return updated
    reopened = await repo.update(ticket["id"], {"status": Status.REOPENED.value, "resolved_at": None,
                                                "closed_at": None, "updated_at": now})
    await cancel_close(session, ticket["id"])
    await record(session, reopened, at=now, actor=identity.subject, actor_role=actor_kind(identity), kind="status",
                 public=True, from_status=ticket["status"], to_status=Status.REOPENED.value,
                 data={"action": "reopen", "cause": "poor_rating"})
    # Whether it escalates is known before the reopen's event is written (it comes first on the bus, the
    # status it names is the step's first): when it does, the escalation's text is the reporter's only one.
    around = await desks_around(session, reopened)
    await reopened_event(session, reopened, "poor_rating", escalated=around[1] is not None)
    escalated = await escalate(session, reopened, cause="poor_rating", actor=identity.subject,
                               actor_role=actor_kind(identity), reason=comment, now=now, around=around)
    if escalated is None and around[1] is not None:
        # Cannot happen under the row lock (this level_seq has not escalated, or the ticket would have moved
        # on); refused rather than leave a reopen that promised an escalation text nobody sends.
        raise Conflict("The ticket changed while it was being rated; rate it again.", type_slug="concurrent-change",
                       title="Changed meanwhile")
    if escalated is None:  # already at the top: the same level works it again, on the time it has left
        await clocks.restart_resolution(session, reopened, await _desk(session, reopened), now)
        return reopened
    return escalated


async def on_breach(session: AsyncSession, job: Job) -> datetime | None:
    """Scheduler job at a clock's deadline.  The deadline is the moment of the breach, so the escalation
    and the next level's clocks date from it, however late a worker picks the job up."""
    ticket_id, level_seq, kind = uuid.UUID(job.payload["ticket_id"]), int(job.payload["level_seq"]), job.payload["kind"]
    # The scheduler holds this job's row; a request holding the ticket may be about to delete the job (it
    # stops the clock).  Taking the ticket only if it is free keeps the two from deadlocking: when busy,
    # the job stays due and the next poll looks again, at a ticket the request may have moved on.
    store = EscalationStore(session)
    ticket, clock = await store.lock_with_clock(ticket_id, level_seq, kind)
    if ticket is None:
        return job.due_at if await TicketRepository(session).exists(ticket_id) else None
    if ticket["level_seq"] != level_seq:
        return None
    if (clock is None or clock["met_at"] or clock["stopped_at"] or clock["breached_at"]
            or clock["deadline_at"] is None or clock["deadline_at"] > job.due_at):
        return None  # met, paused, moved or handled meanwhile
    at = clock["deadline_at"]
    if not await store.mark_breached(clock, ticket["desk_id"], at, json.dumps({"kind": kind,
                                                                             "deadline": at.isoformat()})):
        return None
    BREACHES.labels(clock["level"], kind).inc()
    if ticket["status"] in (Status.RESOLVED, Status.CLOSED):
        return None
    await escalate(session, ticket, cause=f"{kind}_breach", actor=SYSTEM, actor_role="system",
                   reason=f"{kind.replace('_', ' ')} target missed at {clock['level']} level", now=at)
    return None
