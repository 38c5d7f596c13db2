"""Durable scheduler handlers: offer time-outs, looking again for a worker, Beckn callbacks."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, JobHandler
from services.marketplace.beckn.callbacks import CALLBACK, deliver_callback
from services.marketplace.metrics import OFFER_TIMEOUTS
from services.marketplace.repository.bookings import BookingRepository
from services.marketplace.service import bookings, matching, reports
from services.marketplace.service.common import after_commit
from services.marketplace.settings import get_marketplace_settings


async def offer_timeout(session: AsyncSession, job: Job) -> datetime | None:
    """The offered worker did not answer in time: the offer moves to the next worker.

    Runs only if the booking is still offered to that worker under that attempt, so an accept
    that committed first (or a re-offer) makes this a no-op."""
    row = await BookingRepository(session).get(uuid.UUID(job.key), lock=True)
    if row is None or row["status"] != "offered" or row["offer_attempt"] != job.payload.get("attempt"):
        return None
    after_commit(session, OFFER_TIMEOUTS.inc)
    row = await matching.withdraw_offer(session, row, "offer_expired", "system")
    await matching.offer_next(session, row, job.due_at)
    return None


async def rematch(session: AsyncSession, job: Job) -> datetime | None:
    """Nobody was free: look again (workers who declined get another chance); once the booking has
    waited ``rematch_attempts`` rounds, cancel it as unmatched, with no fee."""
    row = await BookingRepository(session).get(uuid.UUID(job.key), lock=True)
    if row is None or row["status"] != "requested":
        return None
    settings = get_marketplace_settings()
    row = await matching.offer_next(session, {**row, "tried_workers": []}, job.due_at)  # type: ignore[arg-type]
    if row["status"] == "offered":
        return None
    waited = job.due_at - row["slot_start"]
    if waited >= timedelta(seconds=settings.rematch_after_seconds * settings.rematch_attempts):
        await bookings.cancel_row(session, row, "platform", "no worker available nearby", "system", job.due_at)
        return None
    return job.due_at + timedelta(seconds=settings.rematch_after_seconds)


JOBS: dict[str, JobHandler] = {
    matching.OFFER_TIMEOUT: offer_timeout,
    matching.REMATCH: rematch,
    CALLBACK: deliver_callback,
    reports.GAUGE_JOB: reports.refresh_gauges,
}
