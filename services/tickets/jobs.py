"""Durable scheduler jobs: one breach job per live SLA deadline, one auto-close per resolved ticket, the
batches of a deadline recompute after a policy or calendar change, and the gauges' recount."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, JobHandler
from services.tickets.service.closing import AUTO_CLOSE_JOB, on_auto_close
from services.tickets.service.escalation import on_breach
from services.tickets.service.gauges import refresh_gauges
from services.tickets.service.sla.clocks import BREACH_JOB, GAUGES_JOB
from services.tickets.service.sla.recompute import RECOMPUTE_JOB, on_recompute
from services.tickets.settings import get_tickets_settings


async def _gauges(session: AsyncSession, job: Job) -> datetime:
    # Operational, not business, time: after downtime it recounts once and moves on, never catches up.
    now = max(job.due_at, job.now or job.due_at)
    await refresh_gauges(session, now)
    return now + timedelta(seconds=get_tickets_settings().metrics_refresh_seconds)


JOBS: dict[str, JobHandler] = {BREACH_JOB: on_breach, GAUGES_JOB: _gauges, AUTO_CLOSE_JOB: on_auto_close,
                               RECOMPUTE_JOB: on_recompute}
