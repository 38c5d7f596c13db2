"""Raising tickets (routing, tracking number, clocks), assignment, transitions and comments."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.tickets import TicketAssigned, TicketCreated, TicketReopened, TicketResolved
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, ServiceUnavailable, ValidationProblem
from kernel.outbox import add_event, outbox_rows
from services.tickets import SERVICE
from services.tickets.metrics import CLOSED, CREATED, REOPENED, RESOLUTION, RESOLVED
from services.tickets.repository.desks import AgentRepository, DeskRepository
from services.tickets.repository.intake import IntakeRepository, StaleRoutes
from services.tickets.repository.tickets import TicketRepository
from services.tickets.rules import routing
from services.tickets.rules.access import agent_areas, is_agent
from services.tickets.rules.states import Action, InvalidTransition, Status, next_status
from services.tickets.rules.tracking import new_tracking_number
from services.tickets.schemas.tickets import TicketIn
from services.tickets.service.closing import cancel_close, schedule_close
from services.tickets.service.common import actor_kind, record, require_agent, status_page_path, visible_ticket
from services.tickets.service.sla import clocks
from services.tickets.service.sla.calendar import current_calendar

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
    """The desk a new ticket of ``category`` from ``area_code`` goes to, with its calendar versions, the
    SLA policy of its level and the routing generation it was read at (one query); 422 naming
    ``area_code`` when no desk takes it."""
    desks = await DeskRepository(session).on_path_with_terms(area_code, category)
    chosen = routing.route([desk_ref(d) for d in desks], area_code, category)
    if chosen is None:
        raise ValidationProblem(f"No help desk takes {category} tickets for {area_code}",
                                errors=[{"field": "area_code", "reason": "no desk at or above this area"}])
    return next(d for d in desks if d["id"] == chosen.id)


# Routes by (area, category), each as read at its routing generation.  A hit costs no query: the insert
# statement itself checks the generation and writes nothing when any desk, calendar or policy changed
# since (on any replica), and the tickets are routed again from the database.  Measured
# (bench tickets.create_rate, docs/tickets.md): the routing query was one of three round trips per ticket.
_ROUTES: dict[tuple[str, str], RowMapping] = {}
ROUTES_SIZE = 50_000
ROUTE_ATTEMPTS = 3  # cached, then read again (a change committed meanwhile), then read with no check


async def _cached_route(session: AsyncSession, key: tuple[str, str], fresh: bool) -> RowMapping:
    hit = None if fresh else _ROUTES.get(key)
    if hit is None:
        hit = await route_desk(session, *key)
        if len(_ROUTES) >= ROUTES_SIZE:
            _ROUTES.clear()
        _ROUTES[key] = hit
    return hit


async def create_ticket(
    session: AsyncSession, identity: Identity, body: TicketIn, now: datetime, *, source_ref: str | None = None,
    pool: asyncpg.Pool | None = None,
) -> Mapping[str, Any]:
    """Route, number and store the ticket, start its first level's clocks, tell notify (SMS).  ``pool``:
    write it as one autocommit statement on a connection of that pool, not in the session's transaction."""
    return (await create_tickets(session, identity, [body], now, source_refs=[source_ref], pool=pool))[0]


async def create_tickets(
    session: AsyncSession, identity: Identity, bodies: Sequence[TicketIn], now: datetime, *,
    source_refs: Sequence[str | None] | None = None, field: str = "", pool: asyncpg.Pool | None = None,
) -> list[dict[str, Any]]:
    """Raise tickets (one, or a batch from an intake): each routed, numbered, its clocks and deadline jobs
    started, its timeline begun and its SMS event written, all in one statement (repository/intake.py).
    A ``source_ref`` already used returns that ticket instead (a retried intake writes nothing twice)."""
    refs = list(source_refs or [None] * len(bodies))
    for body in bodies:
        if not identity.can_access_area(body.area_code):
            raise Forbidden(f"Area {body.area_code} is outside your area scope.")
    for attempt in range(ROUTE_ATTEMPTS):
        routes: dict[tuple[str, str], RowMapping] = {}
        for i, body in enumerate(bodies):
            key = (body.area_code, body.category)
            if key not in routes:
                try:
                    routes[key] = await _cached_route(session, key, fresh=attempt > 0)
                except ValidationProblem as exc:
                    if field:
                        raise ValidationProblem(f"Ticket {i}: {exc.detail}", errors=[
                            {"field": f"{field}{i}.area_code", "reason": "no desk at or above this area"}]) from exc
                    raise
        generations = {route["routing_generation"] for route in routes.values()}
        # Routes cached at different generations cannot all be current: read them all again.
        if len(generations) > 1 and attempt < ROUTE_ATTEMPTS - 1:
            continue
        generation = generations.pop() if len(generations) == 1 and attempt < ROUTE_ATTEMPTS - 1 else None
        try:
            out = await _build_and_insert(session, identity, bodies, refs, routes, now, generation, pool)
        except StaleRoutes:
            continue
        for ticket in out:
            CREATED.labels(ticket["level"], ticket["category"], ticket["channel"]).inc()
        return out
    raise AssertionError("the last attempt inserts with no generation check")  # pragma: no cover


async def _build_and_insert(session: AsyncSession, identity: Identity, bodies: Sequence[TicketIn],
                            refs: list[str | None], routes: Mapping[tuple[str, str], RowMapping], now: datetime,
                            generation: int | None, pool: asyncpg.Pool | None) -> list[dict[str, Any]]:
    terms: dict[Any, tuple[int, int, dict[str, datetime]]] = {}  # per desk: the same now gives the same deadlines
    rows: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, body in enumerate(bodies):
        row, event, ticket = await _new_ticket(session, identity, body, routes[(body.area_code, body.category)],
                                               now, refs[i], terms)
        rows.append(row)
        outbox.append(event)
        out.append(ticket)
    await _insert_numbered(IntakeRepository(session, pool), rows, outbox, out, lambda i: _created_event(
        out[i], bodies[i], identity, rows[i]["resolution_deadline"]), generation)
    return out


async def _new_ticket(session: AsyncSession, identity: Identity, body: TicketIn, desk: RowMapping, now: datetime,
                      source_ref: str | None, terms: dict[Any, tuple[int, int, dict[str, datetime]]],
                      ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the intake row, its outbox row, the ticket as it will read) of one new ticket at ``desk``."""
    if desk["id"] not in terms:
        calendar = await current_calendar(session, desk["calendar_id"], desk["calendar_version"],
                                          desk["parent_version"])
        seconds = clocks.terms_of(desk)
        terms[desk["id"]] = (seconds["first_response"], seconds["resolution"],
                             {k: calendar.add(now, seconds[k]) for k in clocks.KINDS})
    first, resolution, deadlines = terms[desk["id"]]
    dumped = body.model_dump(mode="json", exclude={"area_code", "client_ref"})
    ticket: dict[str, Any] = dumped | {
        "id": uuid.uuid4(), "tracking_number": new_tracking_number(), "area_code": body.area_code,
        "status": Status.NEW.value, "desk_id": desk["id"], "desk_area_code": desk["area_code"], "level": desk["level"],
        "level_seq": 0, "assigned_to": None, "raised_by": identity.subject, "raised_by_roles": sorted(identity.roles),
        "source_ref": source_ref, "rating": None, "created_at": now, "updated_at": now, "first_response_at": None,
        "resolved_at": None, "closed_at": None, "version": 1,
        "concerns_person_id": body.concerns_person_id,
    }
    row = ticket | {
        "raised_by_roles": json.dumps(ticket["raised_by_roles"]), "reporter": json.dumps(dumped["reporter"]),
        "attachments": json.dumps(dumped["attachments"]), "first_target": first,
        "first_deadline": deadlines["first_response"], "resolution_target": resolution,
        "resolution_deadline": deadlines["resolution"], "policy_id": desk["policy_id"],
        "policy_version": desk["policy_version"], "entry_actor_kind": actor_kind(identity), "entry_body": desk["name"],
        "entry_data": json.dumps({"desk": desk["name"], "deadlines": {k: v.isoformat() for k, v in deadlines.items()}}),
    }
    return row, _created_event(ticket, body, identity, deadlines["resolution"]), ticket


def _created_event(ticket: Mapping[str, Any], body: TicketIn, identity: Identity,
                   resolution_due: datetime) -> dict[str, Any]:
    event = TicketCreated(
        **base_event(ticket, f"tickets:{ticket['id']}:created"), priority=ticket["priority"],
        language=ticket["language"], notify_phone=body.reporter.phone, raised_by=identity.subject,
        concerns_person_id=ticket["concerns_person_id"], status_page=status_page_path(ticket["tracking_number"]),
        resolution_due_at=resolution_due)
    return outbox_rows([event], source=SERVICE)[0] | {"ticket_id": ticket["id"]}


async def _insert_numbered(repo: IntakeRepository, rows: list[dict[str, Any]], outbox: list[dict[str, Any]],
                           out: list[dict[str, Any]], event_of: Callable[[int], dict[str, Any]],
                           generation: int | None) -> None:
    """Insert; a ticket whose number was taken draws another, one whose ``source_ref`` exists becomes that
    ticket (nothing of it is written twice).  StaleRoutes when the first statement finds the routes out of
    date (it wrote nothing); later ones are not checked: the earlier ones' tickets are routed as they were."""
    pending = list(range(len(rows)))
    for _ in range(TRACKING_ATTEMPTS):
        inserted = await repo.insert([rows[i] for i in pending], [outbox[i] for i in pending],
                                     generation=generation)
        generation = None
        missed = [i for i in pending if rows[i]["id"] not in inserted]
        if not missed:
            return
        pending = []
        for i in missed:
            existing = await TicketRepository(repo.session).by_source_ref(rows[i]["source_ref"]) if rows[i][
                "source_ref"] else None
            if existing is not None:
                out[i] = dict(existing)
                continue
            rows[i]["tracking_number"] = out[i]["tracking_number"] = new_tracking_number()
            outbox[i] = event_of(i)
            pending.append(i)
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


async def reopened_event(session: AsyncSession, ticket: Mapping[Any, Any], cause: str, *,
                         escalated: bool = False) -> None:
    """``escalated``: the same step escalates the ticket, whose event texts the reporter, so this one does not
    (one text per poor rating)."""
    REOPENED.labels(cause).inc()
    phone = ticket["reporter"].get("phone")
    await add_event(session, SERVICE, TicketReopened(
        **base_event(ticket, f"tickets:{ticket['id']}:reopened:{ticket['version']}"), cause=cause,
        language=ticket["language"], notify_phone=phone, escalated=escalated,
        text_phone=None if escalated else phone), source=SERVICE)


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
