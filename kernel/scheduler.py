"""A durable scheduler for timed work (SLA breaches, vaccination reminders, offer time-outs).

Jobs are rows in ``<schema>.scheduled_job`` with a due time and a ``(kind, key)`` that is
unique, so scheduling the same thing twice is harmless and a job can be cancelled or moved
by its business key.  Workers claim due jobs with ``FOR UPDATE SKIP LOCKED`` (several
replicas never run one job twice at once) through a partial index on ``due_at``, so the cost
of a poll is proportional to the jobs that are due, not to all jobs.  A job's effect and the
job's deletion commit in one transaction, so each effect is applied once, surviving
restarts.  Due times are compared with the database's ``now()``; tests pass a
:class:`ManualClock`.  See :class:`Scheduler` for leases and commit-per-job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Protocol

import asyncpg
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.consumer import is_infrastructure_error
from kernel.db import bounded_transaction
from kernel.metrics import SCHEDULER_DUE, SCHEDULER_LATENESS, SCHEDULER_RUNS, SCHEDULER_TAKEOVERS
from kernel.queries import raw_execute

log = logging.getLogger("gramsetu.scheduler")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that moves only when told to (for tests and simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    kind: str
    key: str
    payload: dict[str, Any]
    due_at: datetime
    attempts: int
    # The scheduler's time when it claimed the job (the database's, or the injected clock's): what a
    # handler uses as "now", never the wall clock (a test clock must move every deadline).
    now: datetime | None = None


# A handler applies the job's effect in the given session.  It may return a datetime to
# run again at that time (recurring work); returning None completes the job.
JobHandler = Callable[[AsyncSession, Job], Awaitable[datetime | None]]


@lru_cache(maxsize=64)
def _schedule_sql(schema: str, replace: bool) -> TextClause:
    conflict = (
        "DO UPDATE SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload, attempts = 0, "
        "last_error = NULL, failed_at = NULL, lease_owner = NULL, lease_until = NULL"
        if replace
        else "DO NOTHING"
    )
    return text(
        f'INSERT INTO "{schema}".scheduled_job (kind, key, due_at, payload) '
        f"VALUES (:kind, :key, :due_at, CAST(:payload AS jsonb)) ON CONFLICT (kind, key) {conflict}"
    )


async def schedule(
    session: AsyncSession | asyncpg.Connection,
    schema: str,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    replace: bool = True,
) -> None:
    """Schedule ``kind``/``key`` at ``due_at`` in the caller's transaction (a session's, or a raw
    asyncpg connection's inside :func:`kernel.db.raw_transaction`).

    With ``replace`` an existing job of the same key is moved (and revived if it had failed);
    without it the first schedule wins.
    """
    params = {"kind": kind, "key": key, "due_at": due_at, "payload": json.dumps(payload or {}, default=str)}
    if isinstance(session, AsyncSession):
        await session.execute(_schedule_sql(schema, replace), params)
    else:
        await raw_execute(session, _schedule_sql(schema, replace), params)


async def cancel(session: AsyncSession, schema: str, *, kind: str, key: str) -> bool:
    result = await session.execute(
        text(f'DELETE FROM "{schema}".scheduled_job WHERE kind = :kind AND key = :key RETURNING 1'),
        {"kind": kind, "key": key},
    )
    return result.first() is not None


class Scheduler:
    """Runs due jobs: a committed lease per claimed batch, then one transaction per job.

    * **Commit per job**: a failing or slow job never holds back or rolls back the others.
    * **Leases**: a claim sets ``lease_owner``/``lease_until`` and commits; a worker that is
      paused (SIGSTOP, a long GC, a frozen VM) or dead loses its jobs to another worker once the
      lease expires.  Each job's transaction first re-checks (and row-locks) the lease, so the
      paused worker cannot run a job it lost.  The job it was running when it stopped stays locked
      until PostgreSQL ends its session (``idle_in_transaction_session_timeout``, kernel.db), then
      it is taken over too; its uncommitted effect was rolled back with the session.
    * **Time**: due times are compared with the database's ``now()`` (one clock for every
      replica), unless a :class:`Clock` is given (tests use :class:`ManualClock`).
    * **External effects** (SMS, webhooks, callbacks) go through :mod:`kernel.effects` from the
      handler: recorded as attempted with an idempotency key before they are sent.
    """

    def __init__(
        self,
        *,
        service: str,
        schema: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: dict[str, JobHandler],
        clock: Clock | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        max_attempts: int = 10,
        lease_seconds: float = 60.0,
        commit_timeout: float | None = 15.0,
        statement_timeout: float | None = 35.0,
    ) -> None:
        self.service = service
        self.schema = schema
        self.sessionmaker = sessionmaker
        self.handlers = handlers
        self.clock: Clock = clock or SystemClock()
        self._database_time = clock is None
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        # A claim or job whose COMMIT is not answered by then counts as not done (the lease expires and
        # the job is taken over; kernel.db.bounded_transaction).
        self.commit_timeout = commit_timeout
        self.statement_timeout = statement_timeout  # likewise a claim's or a job's statement
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        table = f'"{schema}".scheduled_job'
        self._table = table
        # LIMIT is a literal, not a parameter: asyncpg prepares the statement and, after five runs,
        # PostgreSQL may switch to a generic plan, which assumes a parameter LIMIT fetches 10% of
        # the due rows and then joins them by a full scan of the job table (1.9 s at 1M jobs
        # instead of 0.3 ms).  With the literal, the generic plan is the custom one: the partial
        # due index, then the primary key (tests/kernel/test_scheduler.py proves it under
        # ``plan_cache_mode = force_generic_plan``).
        self._claim = text(
            f"UPDATE {table} AS j SET lease_owner = :me, "
            "lease_until = clock_timestamp() + make_interval(secs => :lease) "
            f"FROM (SELECT id, lease_until FROM {table} "
            "WHERE failed_at IS NULL AND due_at <= coalesce(CAST(:now AS timestamptz), now()) "
            "AND kind = ANY(:kinds) AND (lease_until IS NULL OR lease_until < clock_timestamp()) "
            f"ORDER BY due_at LIMIT {int(batch_size)} FOR UPDATE SKIP LOCKED) AS due "
            "WHERE j.id = due.id "
            "RETURNING j.id, j.kind, j.key, j.payload, j.due_at, j.attempts, due.lease_until AS previous_lease, "
            "coalesce(CAST(:now AS timestamptz), now()) AS now"
        )
        self._hold = text(f"SELECT 1 FROM {table} WHERE id = :id AND lease_owner = :me FOR UPDATE")

    def _now_param(self) -> datetime | None:
        return None if self._database_time else self.clock.now()

    async def run_due(self) -> int:
        """Run every job due now, batch by batch; returns how many ran (successfully or not)."""
        total = 0
        while True:
            ran = await self._run_batch()
            total += ran
            if ran < self.batch_size:
                return total

    async def _claim_batch(self) -> list[tuple[Job, datetime]]:
        async with bounded_transaction(self.sessionmaker, commit_timeout=self.commit_timeout,
                                       statement_timeout=self.statement_timeout) as session:
            rows = (await session.execute(self._claim, {
                "me": self.worker_id, "lease": self.lease_seconds, "now": self._now_param(),
                "kinds": list(self.handlers)})).all()
        claimed = []
        for row in sorted(rows, key=lambda r: r.due_at):
            if row.previous_lease is not None:
                SCHEDULER_TAKEOVERS.labels(self.service).inc()
                log.info("job %s/%s taken over after its lease expired", row.kind, row.key)
            claimed.append((Job(row.id, row.kind, row.key, row.payload or {}, row.due_at, row.attempts, row.now),
                            row.now))
        return claimed

    async def _run_batch(self) -> int:
        claimed = await self._claim_batch()
        for job, now in claimed:
            await self._run_claimed(job, now)
        return len(claimed)

    async def _run_claimed(self, job: Job, now: datetime) -> None:
        """One job, one transaction: re-check the lease, run, delete or reschedule, commit."""
        async with bounded_transaction(self.sessionmaker, commit_timeout=self.commit_timeout,
                                       statement_timeout=self.statement_timeout) as session:
            held = (await session.execute(self._hold, {"id": job.id, "me": self.worker_id})).first()
            if held is None:  # another worker took it over while this one was paused
                log.info("job %s/%s: lease lost, skipped", job.kind, job.key)
                return
            await self._run_one(session, job, now)

    async def _run_one(self, session: AsyncSession, job: Job, now: datetime) -> None:
        table = self._table
        try:
            async with session.begin_nested():
                again = await self.handlers[job.kind](session, job)
                if again is None:
                    await session.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": job.id})
                else:
                    await session.execute(
                        text(f"UPDATE {table} SET due_at = :due, attempts = 0, last_error = NULL, "
                             "lease_owner = NULL, lease_until = NULL WHERE id = :id"),
                        {"id": job.id, "due": again},
                    )
        except Exception as exc:
            if is_infrastructure_error(exc):  # a lost connection (or one ended unanswered) is not the job's
                raise                         # failure: no attempt spent; its lease lets it run again
            attempts = job.attempts + 1
            failed = attempts >= self.max_attempts
            retry_at = now + timedelta(seconds=min(5 * 2 ** (attempts - 1), 3600))
            log.warning("job %s/%s failed (attempt %d): %s", job.kind, job.key, attempts, exc)
            await session.execute(
                text(
                    f"UPDATE {table} SET attempts = :a, last_error = :err, due_at = :due, "
                    "lease_owner = NULL, lease_until = NULL, "
                    "failed_at = CASE WHEN :failed THEN CAST(:now AS timestamptz) END WHERE id = :id"
                ),
                {"a": attempts, "err": f"{type(exc).__name__}: {exc}"[:2000], "due": retry_at,
                 "failed": failed, "now": now, "id": job.id},
            )
            SCHEDULER_RUNS.labels(self.service, job.kind, "failed" if failed else "retry").inc()
            return
        SCHEDULER_RUNS.labels(self.service, job.kind, "done").inc()
        SCHEDULER_LATENESS.labels(self.service).observe(max((now - job.due_at).total_seconds(), 0.0))

    async def due_count(self) -> int:
        async with bounded_transaction(self.sessionmaker, commit_timeout=self.commit_timeout,
                                       statement_timeout=self.statement_timeout) as session:
            # A generic plan would guess a third of the table is due and count it by a full scan.
            await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            result = await session.execute(
                text(f'SELECT count(*) FROM "{self.schema}".scheduled_job WHERE failed_at IS NULL '
                     "AND due_at <= coalesce(CAST(:now AS timestamptz), now())"),
                {"now": self._now_param()},
            )
            return int(result.scalar_one())

    async def run(self, stop: asyncio.Event) -> None:
        ticks = 0
        while not stop.is_set():
            try:
                await self.run_due()
                ticks += 1
                if ticks % 10 == 1:
                    SCHEDULER_DUE.labels(self.service).set(await self.due_count())
            except Exception as exc:
                log.warning("scheduler poll failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)
            except asyncio.TimeoutError:
                pass
