"""Name tokens and duplicate flags of imported persons: derived data, built after a large import.

(The probabilistic matcher's flags follow in their own job, ``registry.import.match``:
``service/matching/imported.py``.)

Why: in a bulk import the primary records (households, persons, memberships, identifiers, the
"created" history) and their outbox events must land together, but the name-search tokens and
the possible-duplicate flags are derived from them and cost as much again.  A large import
therefore commits without them and schedules ``registry.import.index`` (kernel scheduler, keyed
by the import id, in the import's own transaction, so it cannot be lost).  The job walks the
import's person ids (time-ordered: one range) in batches; each batch, its cursor move and its
flag count commit together, so every batch is applied once across restarts, and each statement
is idempotent besides.  Until it finishes the job row says ``search_index = 'pending'``: the
imported persons can be looked up by identifier and read, but not yet found by name, and their
duplicates are not yet queued.  Small imports (below ``defer_index_rows``) do the same work
inline, before they commit.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, JobHandler, schedule
from services.registry import SERVICE
from services.registry.repository.imports import ImportRepository
from services.registry.repository.imports_index import ImportIndexRepository
from services.registry.rules.imports import fast_name_tokens
from services.registry.service.duplicates_detect import BIRTH_YEAR_WINDOW
from services.registry.service.matching.imported import MATCH_JOB, flag_import, run_match_job, schedule_match

INDEX_JOB = "registry.import.index"
ANALYZE_JOB = "registry.import.analyze"
BATCH_PERSONS = 100_000  # per job run (one transaction, ~5 s): the duplicate query reads the whole table once per batch

INDEX_BATCH_DURATION = Histogram(
    "gramsetu_registry_import_index_batch_seconds", "Time to build name tokens and duplicate flags for one batch",
    buckets=(0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30),
)


def person_tokens(full_name: str, name_latin: str | None) -> list[str]:
    """The search tokens the registry keeps for a person (as ``rules.imports`` validates them)."""
    return sorted(set(fast_name_tokens(full_name) + fast_name_tokens(name_latin or "")))


async def defer(session: AsyncSession, job_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID) -> None:
    """Mark the import's index pending and schedule the jobs, in the import's transaction.

    Planner statistics come first (the scheduler claims jobs in due order): the new rows can
    change plans, and the duplicate queries of the index job need them too."""
    await ImportIndexRepository(session).mark_pending(job_id, first, last)
    now = datetime.now(timezone.utc)
    payload = {"import_id": str(job_id)}
    await schedule(session, SERVICE, kind=ANALYZE_JOB, key=str(job_id), due_at=now, payload=payload, replace=False)
    await schedule(session, SERVICE, kind=INDEX_JOB, key=str(job_id), due_at=now + timedelta(milliseconds=1),
                   payload={**payload, "first": str(first), "last": str(last)}, replace=False)


async def index_batch(session: AsyncSession, job_id: uuid.UUID, limit: int | None = None) -> bool:
    """Tokens and flags for the next ``limit`` persons of the import; True when the index is complete."""
    limit = limit or BATCH_PERSONS
    repo = ImportIndexRepository(session)
    cursor = await repo.job_cursor(job_id)
    if cursor is None or cursor["search_index"] == "done" or cursor["index_next"] is None:
        return True
    started = time.monotonic()
    # The batch bounds decide the plan (a range of 100,000 ids wants one pass over the table, not
    # 100,000 index probes), so never the generic plan a cached statement turns to after five runs.
    await repo.plan_for_parameters()
    ids = await repo.batch_ids(cursor["index_next"], cursor["index_last"], limit + 1)
    batch, rest = ids[:limit], ids[limit:]
    flagged = 0
    if batch:
        first, last = batch[0], batch[-1]
        person_ids: list[uuid.UUID] = []
        tokens: list[str] = []
        for row in await repo.untokenised(first, last):
            for token in person_tokens(row["full_name"], row["name_latin"]):
                person_ids.append(row["id"])
                tokens.append(token)
        await repo.insert_tokens(person_ids, tokens)
        flagged = await repo.flag_duplicates(first, last, BIRTH_YEAR_WINDOW)
    await repo.advance(job_id, rest[0] if rest else None, flagged)
    INDEX_BATCH_DURATION.observe(time.monotonic() - started)
    return not rest


async def index_now(session: AsyncSession, job_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID) -> None:
    """The whole index at once, then the matcher's flags, in the caller's transaction (small imports)."""
    await ImportIndexRepository(session).mark_pending(job_id, first, last)
    while not await index_batch(session, job_id):
        pass
    await flag_import(session, job_id, first, last)


async def _run_index_job(session: AsyncSession, job: Job) -> datetime | None:
    job_id = uuid.UUID(job.payload["import_id"])
    done = await index_batch(session, job_id)
    if done and "first" in job.payload:  # the identifier rules have run: now the matcher (a job of its own)
        await schedule_match(session, job_id, uuid.UUID(job.payload["first"]), uuid.UUID(job.payload["last"]))
    return None if done else datetime.now(timezone.utc)  # the next batch, at once


async def _run_analyze_job(session: AsyncSession, job: Job) -> None:
    await ImportRepository(session).analyze()


async def _run_match_job(session: AsyncSession, job: Job) -> None:
    await run_match_job(session, job)


JOBS: dict[str, JobHandler] = {INDEX_JOB: _run_index_job, ANALYZE_JOB: _run_analyze_job, MATCH_JOB: _run_match_job}
