"""Read views: a ticket's SLA clocks, a desk's queue with business time left, the timeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from services.tickets.repository.desks import DeskRepository
from services.tickets.repository.tickets import SlaRepository, TicketRepository, TimelineRepository
from services.tickets.rules.access import is_agent
from services.tickets.service.common import visible_ticket
from services.tickets.service.desks import get_desk
from services.tickets.service.sla import clocks
from services.tickets.service.sla.calendar import load_calendar


async def sla_clocks(session: AsyncSession, identity: Identity, ticket_id: uuid.UUID,
                     now: datetime) -> list[dict[str, Any]]:
    await visible_ticket(session, identity, ticket_id)
    out: list[dict[str, Any]] = []
    calendars: dict[uuid.UUID, Any] = {}
    for clock in await SlaRepository(session).for_ticket(ticket_id):
        desk_id = clock["desk_id"]
        if desk_id not in calendars:
            desk = await DeskRepository(session).get(desk_id)
            assert desk is not None
            calendars[desk_id] = await load_calendar(session, desk["calendar_id"])
        used, left = clocks.remaining(clock, calendars[desk_id], now)
        live = clock["met_at"] is None and clock["stopped_at"] is None
        out.append(dict(clock) | {
            "elapsed_seconds": used, "remaining_seconds": left, "paused": live and clock["running_since"] is None,
            "breached": clock["breached_at"] is not None or (live and left <= 0)})
    return out


async def queue(session: AsyncSession, identity: Identity, desk_id: uuid.UUID, now: datetime, *, limit: int,
                offset: int) -> tuple[list[dict[str, Any]], int]:
    desk = await get_desk(session, identity, desk_id)
    calendar = await load_calendar(session, desk["calendar_id"])
    rows, total = await TicketRepository(session).queue_page(desk_id, limit=limit, offset=offset)
    return [_queue_item(r, calendar, now) for r in rows], total


def _queue_item(row: RowMapping, calendar: Any, now: datetime) -> dict[str, Any]:
    left = None
    if row["sla_kind"] is not None:
        clock = {"elapsed_seconds": row["sla_elapsed_seconds"], "running_since": row["sla_running_since"],
                 "target_seconds": row["sla_target_seconds"], "met_at": None, "stopped_at": None}
        left = clocks.remaining(clock, calendar, now)[1]
    return {k: row[k] for k in ("id", "tracking_number", "status", "category", "priority", "title", "assigned_to",
                                "created_at")} | {
        "next_deadline_kind": row["sla_kind"], "next_deadline_at": row["sla_deadline_at"],
        "business_seconds_left": left, "paused": row["sla_kind"] is not None and row["sla_running_since"] is None}


async def timeline_page(session: AsyncSession, identity: Identity, ticket_id: uuid.UUID, *, limit: int,
                        offset: int) -> tuple[list[RowMapping], int]:
    await visible_ticket(session, identity, ticket_id)
    return await TimelineRepository(session).page_for_ticket(
        ticket_id, public_only=not is_agent(identity), limit=limit, offset=offset)
