"""Durable scheduler jobs: one breach job per live SLA deadline, and the gauges' recount."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, JobHandler
from services.tickets.service.escalation import on_breach
from services.tickets.service.gauges import refresh_gauges
from services.tickets.service.sla.clocks import BREACH_JOB, GAUGES_JOB
from services.tickets.settings import get_tickets_settings


async def _gauges(session: AsyncSession, job: Job) -> datetime:
    # Operational, not business, time: after downtime it recounts once and moves on, never catches up.
    now = max(job.due_at, datetime.now(timezone.utc))
    await refresh_gauges(session, now)
    return now + timedelta(seconds=get_tickets_settings().metrics_refresh_seconds)


JOBS: dict[str, JobHandler] = {BREACH_JOB: on_breach, GAUGES_JOB: _gauges}
