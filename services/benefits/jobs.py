"""Timed work of the benefits service (kernel scheduler: durable, once, retried)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, JobHandler
from services.benefits.service import chain, files, flags
from services.benefits.service.replica import SWEEP_CLUSTER
from services.benefits.settings import get_benefits_settings


async def verify_chains_job(session: AsyncSession, job: Job) -> datetime | None:
    """Daily: recompute every chain; the result is in the metrics (benefits_chain_partitions_broken)."""
    await chain.verify(session)
    return job.due_at + timedelta(seconds=get_benefits_settings().verify_interval_seconds)


SWEEP_ALL = "benefits.sweep-all"
VERIFY_ALL = "benefits.verify-chains"
# Scheduled when the workers start (kernel runtime), so they run whether or not a scheme exists yet.
PERIODIC = [(SWEEP_ALL, "periodic"), (VERIFY_ALL, "periodic")]

JOBS: dict[str, JobHandler] = {
    SWEEP_CLUSTER: flags.sweep_cluster_job,
    SWEEP_ALL: flags.sweep_all_job,
    VERIFY_ALL: verify_chains_job,
    files.POST_FILE_JOB: files.post_file_job,
}
