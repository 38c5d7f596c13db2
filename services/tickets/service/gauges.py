"""The open, near-breach and breached gauges (a periodic job, not per request), at a cost that does not
grow with the open tickets: open counts are folded from the deltas the database writes with each change
(statement triggers, migration 0006); near-breach and breached are two ranges of the live-deadline index."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.metrics import GAUGES
from services.tickets.repository.tickets import SlaRepository, TicketRepository
from services.tickets.settings import get_tickets_settings


async def refresh_gauges(session: AsyncSession, now: datetime) -> None:
    near = now + timedelta(seconds=get_tickets_settings().near_breach_seconds)
    counts = await SlaRepository(session).counts(now, near)
    rows = {"gramsetu_tickets_open": await TicketRepository(session).open_counts(),
            "gramsetu_tickets_near_breach": counts["near_breach"], "gramsetu_tickets_breached": counts["breached"]}
    GAUGES.set({name: {(r["level"], r["category"]): float(r["n"]) for r in found} for name, found in rows.items()},
               now)
