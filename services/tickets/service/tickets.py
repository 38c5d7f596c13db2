"""Raising tickets (routing, tracking number, clocks), assignment, transitions and comments."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.tickets import TicketAssigned, TicketCreated, TicketReopened, TicketResolved
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, ServiceUnavailable, ValidationProblem
from kernel.outbox import add_event
from services.tickets import SERVICE
from services.tickets.metrics import CLOSED, CREATED, REOPENED, RESOLUTION, RESOLVED
from services.tickets.repository.desks import AgentRepository, DeskRepository
from services.tickets.repository.tickets import TicketRepository
from services.tickets.rules import routing
from services.tickets.rules.access import agent_areas, is_agent
from services.tickets.rules.states import Action, InvalidTransition, Status, next_status
from services.tickets.rules.tracking import new_tracking_number
from services.tickets.schemas.tickets import TicketIn
from services.tickets.service.closing import cancel_close, schedule_close
from services.tickets.service.common import actor_kind, record, require_agent, status_page_path, visible_ticket
from services.tickets.service.sla import clocks

TRACKING_ATTEMPTS = 8
# Who may take each action: agents work the ticket; the reporter answers, closes or reopens.
REPORTER_ACTIONS = frozenset({Action.REPORTER_REPLIED, Action.CLOSE, Action.REOPEN})
AGENT_ACTIONS = frozenset({Action.START, Action.WAIT_ON_REPORTER, Action.RESOLVE, Action.CLOSE, Action.REOPEN,
                           Action.REPORTER_REPLIED})


def desk_ref(row: Mapping[Any, Any]) -> routing.DeskRef:
    return routing.DeskRef(row["id"], row["area_code"], row["level"], tuple(row["categories"]))


def base_event(ticket: Mapping[Any, Any], key: str) -> dict[str, Any]:
    return {"ticket_id": ticket["id"], "tracking_number": ticket["tracking_number"], "category": ticket["category"],
            "area_code": ticket["area_code"], "desk_id": ticket["desk_id"], "level": ticket["level"],
            "status": ticket["status"], "idempotency_key": key}


async def route_desk(session: AsyncSession, area_code: str, category: str) -> RowMapping:
    desks = await DeskRepository(session).on_path(area_code)
    chosen = routing.route([desk_ref(d) for d in desks], area_code, category)
    if chosen is None:
        raise ValidationProblem(f"No help desk takes {category} tickets for {area_code}",
                                errors=[{"field": "area_code", "reason": "no desk at or above this area"}])
    return next(d for d in desks if d["id"] == chosen.id)


async def create_ticket(
    session: AsyncSession, identity: Identity, body: TicketIn, now: datetime, *, source_ref: str | None = None,
) -> RowMapping:
    """Route, number and store the ticket, start its first level's clocks, tell notify (SMS)."""
    if not identity.can_access_area(body.area_code):
        raise Forbidden(f"Area {body.area_code} is outside your area scope.")
    desk = await route_desk(session, body.area_code, body.category)
    values = body.model_dump(mode="json", exclude={"area_code"}) | {
        "area_code": body.area_code, "status": Status.NEW.value, "desk_id": desk["id"],
        "desk_area_code": desk["area_code"], "level": desk["level"], "level_seq": 0, "raised_by": identity.subject,
        "raised_by_roles": sorted(identity.roles), "source_ref": source_ref, "created_at": now, "updated_at": now,
    }
    ticket = await _insert_numbered(session, values)
    deadlines = await clocks.start_level(session, ticket, desk, now)
    await record(session, ticket, at=now, actor=identity.subject, actor_role=actor_kind(identity), kind="created",
                 public=True, to_status=Status.NEW.value, body=desk["name"],
                 data={"desk": desk["name"], "deadlines": {k: v.isoformat() for k, v in deadlines.items()}})
    await add_event(session, SERVICE, TicketCreated(
        **base_event(ticket, f"tickets:{ticket['id']}:created"), priority=ticket["priority"],
        language=ticket["language"], notify_phone=body.reporter.phone, raised_by=identity.subject,
        concerns_person_id=ticket["concerns_person_id"], status_page=status_page_path(ticket["tracking_number"]),
        resolution_due_at=deadlines["resolution"]), source=SERVICE)
    CREATED.labels(desk["level"], ticket["category"], ticket["channel"]).inc()
    return ticket


async def _insert_numbered(session: AsyncSession, values: dict[str, Any]) -> RowMapping:
    repo = TicketRepository(session)
    for _ in range(TRACKING_ATTEMPTS):
        row = await repo.insert(values | {"tracking_number": new_tracking_number()})
        if row is not None:
            return row
    raise ServiceUnavailable("Could not draw a free tracking number; retry.")


async def list_tickets(session: AsyncSession, identity: Identity, *, status: str | None, desk_id: uuid.UUID | None,
                       limit: int, offset: int) -> tuple[list[RowMapping], int]:
    agent = is_agent(identity)
    return await TicketRepository(session).list_page(
        desk_scopes=agent_areas(identity) if agent else None, raised_by=None if agent else identity.subject,
        status=status, desk_id=desk_id, limit=limit, offset=offset)


def _check_actor(identity: Identity, ticket: Mapping[Any, Any], action: Action) -> None:
    if is_agent(identity):
        if action not in AGENT_ACTIONS:
            raise Forbidden(f"Agents cannot {action.value}.")
    elif action not in REPORTER_ACTIONS or ticket["raised_by"] != identity.subject:
        raise Forbidden(f"Only a help-desk agent may {action.value.replace('_', ' ')} this ticket.")


def _advance(ticket: Mapping[Any, Any], action: Action) -> Status:
    try:
        return next_status(ticket["status"], action)
    except InvalidTransition as exc:
        raise Conflict(str(exc), type_slug="invalid-transition", title="Transition not allowed",
                       status_now=ticket["status"], allowed=exc.allowed) from exc


async def _desk(session: AsyncSession, ticket: Mapping[Any, Any]) -> RowMapping:
    desk = await DeskRepository(session).get(ticket["desk_id"])
    assert desk is not None
    return desk


async def first_response(session: AsyncSession, identity: Identity, ticket: Mapping[Any, Any],
                         now: datetime) -> dict[str, Any]:
    """An agent's visible action at this level counts as its first response."""
    if not is_agent(identity):
        return {}
    await clocks.meet(session, ticket, "first_response", now)
    return {} if ticket["first_response_at"] else {"first_response_at": now}


async def transition(session: AsyncSession, identity: Identity, ticket_id: uuid.UUID, action: Action,
                     note: str | None, now: datetime) -> RowMapping:
    ticket = await visible_ticket(session, identity, ticket_id, lock=True)
    _check_actor(identity, ticket, action)
    if action == Action.REOPEN and ticket["status"] == Status.CLOSED:
        raise Conflict("A closed ticket is reopened only by a poor rating (the appeal).",
                       type_slug="invalid-transition", title="Transition not allowed", status_now="closed",
                       allowed=["rating"])
    target = _advance(ticket, action)
    desk = await _desk(session, ticket)
    changes: dict[str, Any] = {"status": target.value, "updated_at": now}
    changes |= await first_response(session, identity, ticket, now) if action != Action.REOPEN else {}
    if action == Action.WAIT_ON_REPORTER:
        await clocks.pause(session, ticket, desk, now)
    elif action == Action.REPORTER_REPLIED:
        await clocks.resume(session, ticket, desk, now)
    elif action == Action.RESOLVE:
        await clocks.meet(session, ticket, "resolution", now)
        changes["resolved_at"] = now
        await schedule_close(session, ticket, desk, now)
    elif action == Action.CLOSE:
        changes["closed_at"] = now
        await cancel_close(session, ticket["id"])
        CLOSED.labels(actor_kind(identity)).inc()
    elif action == Action.REOPEN:
        changes |= {"resolved_at": None}
        await cancel_close(session, ticket["id"])
        await clocks.restart_resolution(session, ticket, desk, now)
    updated = await TicketRepository(session).update(ticket["id"], changes)
    await record(session, updated, at=now, actor=identity.subject, actor_role=actor_kind(identity), kind="status",
                 public=True, from_status=ticket["status"], to_status=target.value, body=note,
                 data={"action": action.value})
    if action == Action.RESOLVE:
        await _resolved(session, updated, now)
    elif action == Action.REOPEN:
        await reopened_event(session, updated, "reopened")
    return updated


async def reopened_event(session: AsyncSession, ticket: Mapping[Any, Any], cause: str) -> None:
    REOPENED.labels(cause).inc()
    await add_event(session, SERVICE, TicketReopened(
        **base_event(ticket, f"tickets:{ticket['id']}:reopened:{ticket['version']}"), cause=cause), source=SERVICE)


async def _resolved(session: AsyncSession, ticket: Mapping[Any, Any], now: datetime) -> None:
    seconds = max((now - ticket["created_at"]).total_seconds(), 0.0)
    RESOLUTION.labels(ticket["level"]).observe(seconds)
    RESOLVED.labels(ticket["level"], ticket["category"]).inc()
    await add_event(session, SERVICE, TicketResolved(
        **base_event(ticket, f"tickets:{ticket['id']}:resolved:{ticket['version']}"), language=ticket["language"],
        notify_phone=ticket["reporter"].get("phone"), resolution_seconds=seconds), source=SERVICE)


async def assign(session: AsyncSession, identity: Identity, ticket_id: uuid.UUID, agent: str,
                 now: datetime) -> RowMapping:
    require_agent(identity, "assign tickets")
    ticket = await visible_ticket(session, identity, ticket_id, lock=True)
    target = _advance(ticket, Action.ASSIGN)
    if await AgentRepository(session).active(ticket["desk_id"], agent) is None:
        raise ValidationProblem(f"{agent} is not an agent of this ticket's desk",
                                errors=[{"field": "agent", "reason": "not an active agent of the desk"}])
    updated = await TicketRepository(session).update(
        ticket["id"], {"status": target.value, "assigned_to": agent, "updated_at": now})
    await record(session, updated, at=now, actor=identity.subject, actor_role="agent", kind="assigned", public=False,
                 from_status=ticket["status"], to_status=target.value, data={"agent": agent,
                                                                             "previous": ticket["assigned_to"]})
    await add_event(session, SERVICE, TicketAssigned(
        **base_event(updated, f"tickets:{ticket['id']}:assigned:{updated['version']}"), assigned_to=agent),
        source=SERVICE)
    return updated


async def comment(session: AsyncSession, identity: Identity, ticket_id: uuid.UUID, body: str, visibility: str,
                  now: datetime) -> RowMapping:
    ticket = await visible_ticket(session, identity, ticket_id, lock=True)
    if visibility == "internal":
        require_agent(identity, "write internal notes")
    elif ticket["status"] == Status.WAITING_ON_REPORTER and not is_agent(identity):
        # The reporter's answer is what the desk was waiting for: the clocks run again.
        return await transition(session, identity, ticket_id, Action.REPORTER_REPLIED, body, now)
    changes: dict[str, Any] = {"updated_at": now}
    if visibility == "public":
        changes |= await first_response(session, identity, ticket, now)
    updated = await TicketRepository(session).update(ticket["id"], changes)
    await record(session, updated, at=now, actor=identity.subject, actor_role=actor_kind(identity), kind="comment",
                 public=visibility == "public", body=body)
    return updated
