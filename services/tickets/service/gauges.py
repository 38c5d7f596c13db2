"""The open, near-breach and breached gauges (a periodic job, not per request), at a cost that does not
grow with the open tickets: open counts are folded from the deltas the database writes with each change
(statement triggers, migration 0006); near-breach and breached are two ranges of the live-deadline index."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.metrics import BREACHED, NEAR_BREACH, OPEN
from services.tickets.repository.tickets import SlaRepository, TicketRepository
from services.tickets.settings import get_tickets_settings


async def refresh_gauges(session: AsyncSession, now: datetime) -> None:
    near = now + timedelta(seconds=get_tickets_settings().near_breach_seconds)
    counts = await SlaRepository(session).counts(now, near)
    for gauge, rows in ((OPEN, await TicketRepository(session).open_counts()),
                        (NEAR_BREACH, counts["near_breach"]), (BREACHED, counts["breached"])):
        gauge.clear()
        for row in rows:
            gauge.labels(row["level"], row["category"]).set(row["n"])
