"""Everything a service process runs besides HTTP: DB pools, NATS, relay, consumers, scheduler.

The same :class:`Runtime` backs the FastAPI lifespan, ``gramsetu serve``, the tests and the
benchmarks, so they all exercise the code production runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from fastapi import APIRouter
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kernel.bus import DLQ_MAX_AGE_DAYS, connect, ensure_streams, export_stream_usage, jetstream
from kernel.consumer import EventConsumer, Subscription
from kernel.db import asyncpg_dsn, make_engine, make_sessionmaker, session_settings, transaction
from kernel.dlq import dlq_size
from kernel.metrics import DLQ_EVENTS
from kernel.relay import OutboxRelay
from kernel.scheduler import Clock, Job, JobHandler, Scheduler, schedule
from kernel.settings import Settings, get_settings

log = logging.getLogger("gramsetu.runtime")

SHUTDOWN_STEP_SECONDS = 10.0


async def _bounded(what: str, step: Awaitable[object]) -> bool:
    """Await one shutdown step for at most SHUTDOWN_STEP_SECONDS; False (and a warning) when cut short."""
    try:
        await asyncio.wait_for(step, timeout=SHUTDOWN_STEP_SECONDS)
        return True
    except asyncio.TimeoutError:
        log.warning("shutdown: %s took over %ss; cut short", what, SHUTDOWN_STEP_SECONDS)
        return False

PRUNE_INBOX = "kernel.prune_inbox"


@dataclass
class ServiceSpec:
    """What makes a service: its routes, the events it consumes and its timed jobs."""

    name: str
    title: str
    description: str
    routers: list[APIRouter] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    jobs: dict[str, JobHandler] = field(default_factory=dict)
    version: str = "0.1.0"
    # Blocking clean-ups run when the app stops (after the workers), e.g. a service's process pool.
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    # Recurring jobs (kind, key), put on the schedule when the workers start (not on some first
    # request); each handler returns its next run.
    recurring: list[tuple[str, str]] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return self.name


def _prune_inbox_job(schema: str, keep_days: int) -> JobHandler:
    async def prune(session: AsyncSession, job: Job) -> datetime:
        # Safe once the stream can no longer redeliver these events (older than its max age).
        await session.execute(
            text(f'DELETE FROM "{schema}".inbox WHERE processed_at < :cutoff'),
            {"cutoff": job.due_at - timedelta(days=keep_days)},
        )
        return job.due_at + timedelta(days=1)

    return prune


async def _keep_session(_: asyncpg.Connection) -> None:
    """Release hook of :meth:`Runtime.statement_pool` and the relay's pool: the session is left as it is
    (asyncpg still rolls back a transaction left open)."""


class Runtime:
    def __init__(self, spec: ServiceSpec, settings: Settings | None = None, *, clock: Clock | None = None) -> None:
        self.spec = spec
        self.settings = settings or get_settings()
        self.clock = clock
        self.engine: AsyncEngine | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self.pool: asyncpg.Pool | None = None
        self._statement_pool: asyncpg.Pool | None = None
        self._statement_pool_lock = asyncio.Lock()
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[EventConsumer] = []
        self.scheduler: Scheduler | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def database_url(self) -> str:
        if not self.settings.database_url:
            raise RuntimeError(
                "GRAMSETU_DATABASE_URL / DATABASE_URL is not set (use `gramsetu up` for the embedded stack)"
            )
        return self.settings.database_url

    async def start_database(self) -> None:
        s = self.settings
        self.engine = make_engine(
            self.database_url, pool_size=s.db_pool_size, max_overflow=s.db_max_overflow,
            server_settings=session_settings(statement_timeout=s.db_statement_timeout_seconds,
                                             idle_in_transaction_timeout=s.db_idle_in_transaction_timeout_seconds))
        self.sessionmaker = make_sessionmaker(self.engine)
        self.pool = await asyncpg.create_pool(
            asyncpg_dsn(self.database_url), min_size=1, max_size=s.worker_pool_size,
            # Bounds what the relay does not bound itself, e.g. asyncpg's cancel request after a timeout.
            command_timeout=s.db_relay_command_timeout_seconds,
            # No session reset on release (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL: a round trip
            # per relay batch, a fifth of a batch's): the relay leaves no session state on a pooled
            # connection (its listener's connection is ended, never handed back; kernel.relay).
            reset=_keep_session,
            server_settings=session_settings(statement_timeout=s.db_relay_statement_timeout_seconds,
                                             idle_in_transaction_timeout=s.db_idle_in_transaction_timeout_seconds))

    async def statement_pool(self) -> asyncpg.Pool:
        """A pool for hot read paths that run single autocommit statements (the registry's lookup).

        asyncpg's default release resets the session (advisory unlock, ``CLOSE ALL``, ``UNLISTEN *``,
        ``RESET ALL``): one more round trip for every request.  This pool skips that query, so its
        users must leave no session state behind: no ``SET`` (``SET LOCAL`` is fine), no ``LISTEN``,
        no session-level advisory lock.  asyncpg still rolls back a transaction left open.
        Opened on first use, so services that have no such path hold no extra connection."""
        if self._statement_pool is not None:  # every request after the first: no lock
            return self._statement_pool
        async with self._statement_pool_lock:
            if self._statement_pool is None:
                self._statement_pool = await asyncpg.create_pool(
                    asyncpg_dsn(self.database_url), min_size=1, max_size=self.settings.statement_pool_size,
                    reset=_keep_session, server_settings=session_settings(
                        statement_timeout=self.settings.db_statement_timeout_seconds,
                        idle_in_transaction_timeout=self.settings.db_idle_in_transaction_timeout_seconds))
            return self._statement_pool

    async def start_bus(self) -> None:
        if not self.settings.nats_url:
            raise RuntimeError("GRAMSETU_NATS_URL / NATS_URL is not set (use `gramsetu up` for the embedded stack)")
        self.nc = await connect(self.settings.nats_url, name=f"gramsetu-{self.spec.name}")
        self.js = jetstream(self.nc, max_pending=4000)
        await ensure_streams(self.js, self.settings)

    def build_workers(self) -> None:
        assert self.pool and self.js and self.sessionmaker
        s, spec = self.settings, self.spec
        self.relay = OutboxRelay(
            service=spec.name,
            schema=spec.schema,
            pool=self.pool,
            js=self.js,
            batch_size=s.relay_batch_size,
            poll_interval=s.relay_poll_interval_seconds,
            publish_timeout=s.relay_publish_timeout_seconds,
            max_backoff=s.relay_max_backoff_seconds,
            max_attempts=s.relay_max_attempts,
            concurrency=s.relay_concurrency,
            bulk_concurrency=s.relay_bulk_concurrency,
            duplicate_window=s.stream_duplicate_window_seconds,
            db_timeout=s.db_relay_command_timeout_seconds,
        )
        self.consumers = [
            EventConsumer(
                service=spec.name,
                schema=spec.schema,
                subscription=sub,
                sessionmaker=self.sessionmaker,
                js=self.js,
                batch_size=s.consumer_batch_size,
                max_deliver=s.consumer_max_deliver,
                backoff=s.consumer_backoff_seconds,
                ack_wait=s.consumer_ack_wait_seconds,
                concurrency=s.consumer_concurrency,
                linger=s.consumer_linger_seconds,
                bulk_concurrency=s.consumer_bulk_concurrency,
                lock_timeout=s.db_lock_timeout_seconds,
                max_replicas=s.consumer_max_replicas,
                commit_timeout=s.db_commit_timeout_seconds,
                statement_timeout=s.db_worker_command_timeout_seconds,
            )
            for sub in spec.subscriptions
        ]
        # Inbox rows outlive both redelivery from the stream and replay from the DLQ, so a replay
        # on day 20 (or 89) still finds the row of an event applied before it was parked.
        keep_days = max(s.stream_max_age_days, DLQ_MAX_AGE_DAYS) + 1
        handlers = {PRUNE_INBOX: _prune_inbox_job(spec.schema, keep_days), **spec.jobs}
        self.scheduler = Scheduler(
            service=spec.name,
            schema=spec.schema,
            sessionmaker=self.sessionmaker,
            handlers=handlers,
            clock=self.clock,
            batch_size=s.scheduler_batch_size,
            poll_interval=s.scheduler_poll_interval_seconds,
            commit_timeout=s.db_commit_timeout_seconds,
            statement_timeout=s.db_worker_command_timeout_seconds,
        )

    async def start(self, *, workers: bool | None = None) -> None:
        await self.start_database()
        await self.start_bus()
        self.build_workers()
        if workers if workers is not None else self.settings.run_workers:
            await self.start_workers()

    async def start_workers(self) -> None:
        assert self.relay and self.scheduler and self.sessionmaker
        async with transaction(self.sessionmaker) as session:
            for kind, key in [(PRUNE_INBOX, "daily"), *self.spec.recurring]:
                await schedule(session, self.spec.schema, kind=kind, key=key, due_at=self.scheduler.clock.now(),
                               replace=False)
        for consumer in self.consumers:
            await consumer.subscribe()
        self._spawn("relay", self.relay.run)
        self._spawn("scheduler", self.scheduler.run)
        for consumer in self.consumers:
            self._spawn(f"consumer:{consumer.name}", consumer.run)
        self._spawn("dlq-gauge", self._dlq_gauge)

    def _spawn(self, name: str, loop: object) -> None:
        async def supervised() -> None:
            # A worker that dies is logged and restarted; it never fails silently.
            while not self._stop.is_set():
                try:
                    await loop(self._stop)  # type: ignore[operator]
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("worker %s crashed; restarting", name)
                    await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    async def _dlq_gauge(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.js is not None:
                try:
                    DLQ_EVENTS.labels(self.spec.name).set(await dlq_size(self.js))
                    await export_stream_usage(self.js, self.settings)
                except Exception as exc:
                    log.debug("dlq and stream gauges: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=15)
            except asyncio.TimeoutError:
                pass

    async def ready(self) -> dict[str, bool]:
        db_ok = False
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=2)
                db_ok = True
            except Exception:
                db_ok = False
        nats_ok = bool(self.nc is not None and self.nc.is_connected)
        return {"database": db_ok, "nats": nats_ok}

    async def stop(self) -> None:
        """Stop the workers and close the connections, every step bounded: a stuck step is named in
        the log and cut short, so a process (or a test's app) never hangs on its way down."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_STEP_SECONDS)
            if pending:
                log.warning("shutdown: workers %s did not stop within %ss",
                            sorted(t.get_name() for t in pending), SHUTDOWN_STEP_SECONDS)
        self._tasks.clear()
        for consumer in self.consumers:
            await _bounded(f"consumer {consumer.name} close", consumer.close())
        if self.nc is not None and not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.drain(), timeout=5)
            except Exception:
                await self.nc.close()
        for pool in (self.pool, self._statement_pool):
            # asyncpg's close() waits for every acquired connection to be released; a connection
            # still held by a stuck task would make it wait for ever.
            if pool is not None and not await _bounded("database pool close", pool.close()):
                pool.terminate()
        self._statement_pool = None
        if self.engine is not None:
            await self.engine.dispose()
