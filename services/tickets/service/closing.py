"""Automatic close: a resolved ticket nobody reopens closes on its own after its desk's number of days.

Resolving schedules one job (``tickets.auto_close``, keyed by the ticket); reopening, a poor rating or a
close by hand cancels it.  The job closes the ticket only if it is still resolved *from the same
resolution* (``resolved_at`` in its payload), so a ticket resolved, reopened and resolved again closes
after the second resolution's days, never the first's.  The close is dated at the job's due time, however
late a worker picks it up, like an SLA breach.  A poor rating still reopens a closed ticket (the appeal).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, cancel, schedule
from services.tickets import SERVICE
from services.tickets.metrics import CLOSED
from services.tickets.repository.tickets import AutoCloseRepository, TicketRepository
from services.tickets.rules.states import Action, Status, next_status
from services.tickets.service.common import SYSTEM, record
from services.tickets.settings import get_tickets_settings

AUTO_CLOSE_JOB = "tickets.auto_close"


def close_after_days(desk: Mapping[Any, Any]) -> int:
    days = desk["auto_close_days"]
    return get_tickets_settings().auto_close_days if days is None else int(days)


async def schedule_close(session: AsyncSession, ticket: Mapping[Any, Any], desk: Mapping[Any, Any],
                         resolved_at: datetime) -> None:
    days = close_after_days(desk)
    if days > 0:
        await schedule(session, SERVICE, kind=AUTO_CLOSE_JOB, key=str(ticket["id"]),
                       due_at=resolved_at + timedelta(days=days),
                       payload={"ticket_id": str(ticket["id"]), "resolved_at": resolved_at.isoformat()})


async def cancel_close(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    await cancel(session, SERVICE, kind=AUTO_CLOSE_JOB, key=str(ticket_id))


async def desk_policy_changed(session: AsyncSession, desk: Mapping[Any, Any]) -> int:
    """The desk's days changed: its resolved tickets close that many days after their resolution."""
    return await AutoCloseRepository(session).reschedule_desk(desk["id"], AUTO_CLOSE_JOB, close_after_days(desk))


async def on_auto_close(session: AsyncSession, job: Job) -> datetime | None:
    tickets = TicketRepository(session)
    ticket_id = uuid.UUID(job.payload["ticket_id"])
    ticket = await tickets.get(ticket_id, lock=True, skip_locked=True)
    if ticket is None:  # busy with a request (which may reopen it): look again on the next poll
        return job.due_at if await tickets.exists(ticket_id) else None
    resolved_at = datetime.fromisoformat(job.payload["resolved_at"])
    if ticket["status"] != Status.RESOLVED or ticket["resolved_at"] != resolved_at:
        return None
    at = job.due_at
    target = next_status(ticket["status"], Action.CLOSE)
    updated = await tickets.update(ticket_id, {"status": target.value, "closed_at": at, "updated_at": at})
    await record(session, updated, at=at, actor=SYSTEM, actor_role="system", kind="status", public=True,
                 from_status=ticket["status"], to_status=target.value,
                 data={"action": Action.CLOSE.value, "cause": "auto_close"})
    CLOSED.labels("auto").inc()
    return None
