"""Building blocks for the failure drills: a private stack, a writer, an effect probe, waits.

Every drill runs against its own PostgreSQL and nats-server on free loopback ports (never
the machine's shared servers), so crashing them harms nothing else.  The producer is the
real registry service code (``create_area`` writes the area and its outbox row in one
transaction) and the consumer is the real tickets runtime plus a *probe* subscription whose
effect table deliberately has no unique key: a duplicate application shows up as a second
row, so only the inbox stands between a redelivery and a double effect.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.base import Envelope, Event
from contracts.registry import AreaCreated
from gramsetu.embedded import EmbeddedNats, EmbeddedPostgres
from kernel.auth import Identity
from kernel.consumer import Subscription
from kernel.db import transaction
from kernel.errors import Conflict
from kernel.runtime import Runtime, ServiceSpec
from kernel.settings import Settings
from services.registry.schemas.areas import AreaCreate
from services.registry.service.areas import create_area
from services.tickets.app import SPEC as TICKETS_SPEC

ROOT = Path(__file__).resolve().parents[2]
AREA_SUBJECT = AreaCreated.subject
PROBE_CONSUMER = "tickets-failure-probe"
REPLICA_CONSUMER = "tickets-area-replica"
ADMIN = Identity(subject="failure-drill", kind="system", roles=["admin"], scopes=["*"], area_scope=["IN"])


# ---------------------------------------------------------------- the private stack


@dataclass
class Stack:
    """A private PostgreSQL + nats-server pair that a drill may crash and restart."""

    root: Path
    pg: EmbeddedPostgres
    broker: EmbeddedNats

    def settings(self, **overrides: Any) -> Settings:
        """Production code paths with drill-sized timings (fast polls, short backoff and ack wait)."""
        return Settings(**self.settings_values(**overrides))

    def settings_values(self, **overrides: Any) -> dict[str, Any]:
        """What :meth:`settings` sets, as plain values (for a drill's worker process)."""
        values: dict[str, Any] = {
            "database_url": self.pg.url,
            "nats_url": self.broker.url,
            "identity_secret": "failure-drill-secret",
            "relay_poll_interval_seconds": 0.05,
            "relay_publish_timeout_seconds": 1.0,
            "relay_max_backoff_seconds": 0.5,
            "scheduler_poll_interval_seconds": 0.5,
            "consumer_backoff_seconds": [0.05, 0.1, 0.2, 0.4, 0.8],
            # High enough that an outage of a few seconds cannot exhaust deliveries.
            "consumer_max_deliver": 30,
            "consumer_ack_wait_seconds": 1.0,
            "stream_duplicate_window_seconds": 120,
            "db_pool_size": 4,
            "db_max_overflow": 4,
        }
        values.update(overrides)
        return values

    def restart_broker(self) -> None:
        """Start nats-server again on the same port and store directory."""
        self.broker.start()

    def crash_database(self) -> None:
        self.pg.kill()

    def restart_database(self) -> None:
        self.pg.start()


# ---------------------------------------------------------------- the effect probe


class ProbeFailure(RuntimeError):
    pass


@dataclass
class Probe:
    """A consumer whose effect is one row per application; faults are switched on per area code."""

    broken: set[str] = field(default_factory=set)  # always fail (poison)
    flaky_once: set[str] = field(default_factory=set)  # fail on the first call only
    slow_first: set[str] = field(default_factory=set)  # the first call sleeps ``slow_seconds``
    slow_seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)

    TABLE = "tickets.failure_probe"
    DDL = (
        "CREATE TABLE IF NOT EXISTS tickets.failure_probe ("
        " id bigserial PRIMARY KEY, event_id uuid NOT NULL, code text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"  # no UNIQUE: duplicates must show
    )

    def subscription(self) -> Subscription:
        insert = text(f"INSERT INTO {self.TABLE} (event_id, code) VALUES (:event_id, :code)")

        async def apply(session: AsyncSession, event: Event, envelope: Envelope) -> None:
            assert isinstance(event, AreaCreated)
            self.calls[event.code] += 1
            first = self.calls[event.code] == 1
            if event.code in self.broken or (first and event.code in self.flaky_once):
                raise ProbeFailure(f"probe handler refuses {event.code}")
            if first and event.code in self.slow_first:
                await asyncio.sleep(self.slow_seconds)
            await session.execute(insert, {"event_id": envelope.id, "code": event.code})

        return Subscription(name=PROBE_CONSUMER, subject="registry.area.*.v1", handler=apply)

    def consumer_spec(self) -> ServiceSpec:
        """The tickets service as deployed (area replica) plus this probe."""
        return replace(TICKETS_SPEC, subscriptions=[*TICKETS_SPEC.subscriptions, self.subscription()])


async def create_probe_table(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(Probe.DDL)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Effects:
    rows: int
    distinct_events: int
    per_code: dict[str, int]


async def probe_effects(database_url: str) -> Effects:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(f"SELECT event_id, code FROM {Probe.TABLE}")
    finally:
        await conn.close()
    return Effects(
        rows=len(rows),
        distinct_events=len({r["event_id"] for r in rows}),
        per_code=dict(Counter(r["code"] for r in rows)),
    )


async def fetch_value(database_url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


# ---------------------------------------------------------------- the writer


def district_codes(count: int, state: str = "IN-01") -> list[str]:
    """The state first (its parent, the country, is implicit), then ``count`` districts under it."""
    return [state, *(f"{state}-{n:04d}" for n in range(1, count + 1))]


@dataclass
class WriteLog:
    committed: list[str] = field(default_factory=list)
    retries: int = 0
    ambiguous: int = 0  # a retried write found its area already there: the "failed" commit had landed


async def write_areas(
    sessionmaker: async_sessionmaker[AsyncSession],
    codes: Sequence[str],
    log: WriteLog,
    *,
    timeout: float,
    names: dict[str, str] | None = None,
) -> WriteLog:
    """Create each area in its own transaction through the registry service, retrying on any failure.

    The area code is the business key: a retry after an ambiguous commit (the connection died
    during COMMIT) meets ``Conflict`` and knows the first attempt committed.
    """
    deadline = time.monotonic() + timeout
    for code in codes:
        attempt = 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"writer stuck at {code} after {log.retries} retries")
            attempt += 1
            try:
                async with transaction(sessionmaker) as session:
                    name = (names or {}).get(code, f"Area {code}")
                    await create_area(session, ADMIN, AreaCreate(code=code, name=name))
                break
            except Conflict:
                if attempt == 1:
                    raise
                log.ambiguous += 1
                break
            except Exception:
                log.retries += 1
                await asyncio.sleep(0.1)
        log.committed.append(code)
    return log


# ---------------------------------------------------------------- runtimes and the broker


@asynccontextmanager
async def running(spec: ServiceSpec, settings: Settings, *, workers: bool = True) -> AsyncIterator[Runtime]:
    runtime = Runtime(spec, settings)
    await asyncio.wait_for(runtime.start(workers=workers), timeout=20)
    try:
        yield runtime
    finally:
        await asyncio.wait_for(runtime.stop(), timeout=15)


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    """A short-lived inspection connection (opened after any restart, so it never reconnects)."""
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        yield nc.jetstream(timeout=3)
    finally:
        await nc.close()


async def stream_count(url: str, stream: str = "REGISTRY") -> int:
    async with jetstream(url) as js:
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return 0
        return int(info.state.messages)


async def consumer_settled(url: str, durable: str, stream: str = "REGISTRY") -> bool:
    """Everything in the stream was delivered to ``durable`` and acknowledged."""
    async with jetstream(url) as js:
        info = await js.consumer_info(stream, durable)
        return (info.num_pending or 0) == 0 and (info.num_ack_pending or 0) == 0


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    """Poll ``check`` (errors count as "not yet", e.g. while a server restarts) until true or timeout."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except Exception as exc:
            last_error = exc
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


def counter_value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def new_msg_id() -> str:
    return f"failure-drill:{uuid.uuid4()}"


async def stream_event_ids(url: str, stream: str = "REGISTRY") -> Counter[str]:
    """How many times each event id (``Nats-Msg-Id``) is stored in ``stream``."""
    ids: Counter[str] = Counter()
    async with jetstream(url) as js:
        info = await js.stream_info(stream)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except NotFoundError:
                continue
            ids[(msg.headers or {}).get("Nats-Msg-Id", f"<no id at {seq}>")] += 1
    return ids


async def committed_areas(database_url: str) -> int:
    """Areas in the registry: each was committed together with exactly one area.created event."""
    return int(await fetch_value(database_url, "SELECT count(*) FROM registry.area"))
