"""Event backbone benchmarks: outbox relay throughput and commit-to-effect latency.

1. **Relay throughput** (``events.relay_throughput``).  N registry ``area.created`` envelopes
   (~330 B each) are written to ``registry.outbox`` through :func:`kernel.outbox.add_events`,
   500 per transaction.  Timed: the production :class:`~kernel.relay.OutboxRelay`, configured
   by :class:`~kernel.runtime.Runtime` as a service runs it, draining them all to JetStream
   with its ``concurrency`` workers (each worker runs the same ``publish_batch`` loop as
   ``OutboxRelay.run`` does while there is a backlog).  Baseline, measured in the same run: raw
   nats-py ``js.publish_async`` of exactly the same bodies, subject, headers (``Nats-Msg-Id``
   set) on the same connection into the same freshly created stream, awaiting every PubAck.
   Several runs each, in alternating order; the row reports medians.

2. **Commit-to-effect latency** (``events.e2e_latency_*``, ``events.e2e_rate``).  Separate
   processes, as in production: producers commit transactions at a steady rate (each one
   inserts a ``registry.area`` row and its ``AreaCreated`` event with
   :func:`kernel.outbox.add_event`); a registry :class:`Runtime` runs the relay, woken by
   LISTEN/NOTIFY; a benefits :class:`Runtime` runs the production area-replica consumer.
   Latency = time the consumer's transaction applying the event has committed (stamped in an
   ``after_commit`` hook) minus the time the producer's commit returned; both clocks are this
   machine's.  The first second is warm-up and left out of the percentiles.  The detail splits
   it at JetStream's store time of each message (read back from the stream after the run, by
   ``Nats-Msg-Id``, so nothing is added to the measured path): *relay lag* (commit -> stored) and
   *consumer lag* (stored -> applied), for all events and for the slowest 1%; and it gives each
   child process's CPU time and its time runnable but waiting for a CPU during the run
   (``/proc/<pid>/task/*/schedstat``), so a tail can be put down to a stage or to CPU contention.  The business
   write is a plain INSERT rather than the registry's HTTP/ORM path, whose cost the gateway
   bench measures; here it would only take CPU from the backbone being measured.

3. Diagnostics: ``events.consumer_throughput`` (the production consumer alone, draining a
   backlog: the most events per second it can apply at all) and ``events.e2e_light_<rate>_*``
   (the latency run at a light load, where no backlog builds up).

Knobs (environment): ``GRAMSETU_BENCH_RELAY_EVENTS`` (20000), ``_RELAY_TRIALS`` (3),
``_CONSUMER_EVENTS`` (5000), ``_E2E_RATE`` (1000), ``_E2E_SECONDS`` (12), ``_E2E_PRODUCERS``
(2), ``_E2E_LIGHT_RATE`` (200; 0 skips it), ``_E2E_LIGHT_SECONDS`` (6), ``_NOTIFY_WRITERS`` (8),
``_NOTIFY_SECONDS`` (3), ``_NOTIFY_TRIALS`` (3).  ``GRAMSETU_BENCH_PROFILE_DIR``: each child process
runs under cProfile and writes ``<role>-<pid>.prof`` there (for finding CPU per event; it slows them).

4. **pg_notify cost** (``events.outbox_write_with_notify``): concurrent writers committing one
   event per transaction through the production asyncpg write (insert + a notify unless a relay
   is awake, one statement) while a relay is awake, against the same inserts without any notify;
   the detail also gives the write when no relay is awake (a notify on every commit, the
   behaviour before the awake flag: 58% cost at 8 writers).

Child processes: ``python -m bench.events_bench {relay,consumer,producer} '<json config>'``
talk to the orchestrator with JSON lines on stdin/stdout.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import nats
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import Header
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bench.common import (
    ROOT,
    Servers,
    env_float,
    env_int,
    get_servers,
    make_row,
    median,
    percentile,
    reset_streams,
    run_loop,
    stream_message_count,
    truncate,
)
from contracts.base import Envelope, Event
from contracts.registry import AreaCreated
from kernel.app import freeze_startup_objects
from kernel.area_replica import area_replica_subscription
from kernel.consumer import Subscription
from kernel.db import asyncpg_dsn, transaction
from kernel.outbox import (
    AWAKE_LOCK_CLASS,
    add_events,
    add_events_asyncpg,
    notify_channel,
    notify_unless_awake,
    outbox_rows,
)
from kernel.relay import LOWER_AWAKE_FLAG, RAISE_AWAKE_FLAG
from kernel.runtime import Runtime, ServiceSpec
from kernel.settings import Settings
from services import benefits as benefits_service
from services import registry as registry_service

REGISTRY = registry_service.SERVICE
CONSUMER_SERVICE = benefits_service.SERVICE
STREAM = "REGISTRY"
# Villages go under one gram panchayat; its ancestors are created before a run.
PARENT = "IN-23-456-2210-12345"
ANCESTORS = [("IN", None, "country"), ("IN-23", "IN", "state"), ("IN-23-456", "IN-23", "district"),
             ("IN-23-456-2210", "IN-23-456", "block"), (PARENT, "IN-23-456-2210", "gram_panchayat")]
LATENCY_GOAL_MS = 100.0
RATE_SHORTFALL_ALLOWED = 0.95  # the load counts as reached at >= 95% of the target rate
STALL_TIMEOUT_SECONDS = 30.0  # no new effect for this long: something is broken, not slow
RESULT_LINE_LIMIT = 64 * 1024 * 1024  # a child reports all its timestamps on one JSON line


def area_event(i: int) -> AreaCreated:
    return AreaCreated(
        code=f"{PARENT}-{i}", parent_code=PARENT, level="village",
        name=f"Village {i:06d}", name_local=f"गाँव {i}", version=1,
    )


def registry_workers_spec() -> ServiceSpec:
    """The registry's background side (relay, scheduler): its Runtime without the HTTP routers."""
    return ServiceSpec(name=REGISTRY, title="GramSetu Registry workers", description="outbox relay and scheduler")


def consumer_spec() -> ServiceSpec:
    """The benefits service's workers with its area-replica consumer, timed."""
    return ServiceSpec(name=CONSUMER_SERVICE, title="GramSetu Benefits workers", description="area replica consumer",
                       subscriptions=[timed_area_replica(CONSUMER_SERVICE)])


# ---------------------------------------------------------------- 1. relay throughput


async def fill_outbox(sessionmaker: async_sessionmaker[AsyncSession], events: int, batch: int = 500) -> None:
    for start in range(0, events, batch):
        async with transaction(sessionmaker) as session:
            chunk = [area_event(i) for i in range(start, min(start + batch, events))]
            await add_events(session, REGISTRY, chunk, source=REGISTRY)


async def outbox_messages(pool: asyncpg.Pool) -> list[tuple[str, bytes, dict[str, str]]]:
    """The outbox rows as the relay will publish them: subject, body, headers."""
    rows = await pool.fetch(f'SELECT id, subject, payload::text AS payload FROM "{REGISTRY}".outbox ORDER BY seq')
    return [
        (r["subject"], r["payload"].encode(), {Header.MSG_ID: str(r["id"]), "Gramsetu-Event-Type": r["subject"]})
        for r in rows
    ]


async def publish_raw(js: JetStreamContext, messages: list[tuple[str, bytes, dict[str, str]]]) -> float:
    """msg/s of pipelined publish_async, all PubAcks awaited."""
    started = time.perf_counter()
    futures = [await js.publish_async(subject, body, headers=headers) for subject, body, headers in messages]
    acks = await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    if any(ack.duplicate for ack in acks):
        raise RuntimeError("raw publish hit the duplicate window: the stream was not fresh")
    return len(messages) / elapsed


async def drain_with_relay(runtime: Runtime, expected: int) -> float:
    """msg/s of the production relay draining the outbox with its configured concurrency."""
    relay = runtime.relay
    assert relay is not None
    started = time.perf_counter()
    published = await asyncio.gather(*(relay.drain() for _ in range(relay.concurrency)))
    elapsed = time.perf_counter() - started
    if sum(published) != expected:
        raise RuntimeError(f"relay published {sum(published)} events, expected {expected}")
    return expected / elapsed


async def _measure(servers: Servers, settings: Settings, expected: int, measure: Any) -> float:
    await reset_streams(servers.nats_url, settings)
    rate = float(await measure())
    stored = await stream_message_count(servers.nats_url, STREAM)
    if stored != expected:
        raise RuntimeError(f"stream {STREAM} holds {stored} messages after a run, expected {expected}")
    return rate


async def relay_throughput(servers: Servers, *, events: int, trials: int) -> list[dict[str, Any]]:
    settings = servers.settings()
    runtime = Runtime(registry_workers_spec(), settings)
    await runtime.start(workers=False)
    relay_rates: list[float] = []
    raw_rates: list[float] = []
    try:
        assert runtime.sessionmaker and runtime.pool and runtime.js and runtime.relay
        for trial in range(trials):
            await truncate(servers.database_url, [f'"{REGISTRY}".outbox'])
            await fill_outbox(runtime.sessionmaker, events)
            messages = await outbox_messages(runtime.pool)
            runs = [
                (functools.partial(publish_raw, runtime.js, messages), raw_rates),
                (functools.partial(drain_with_relay, runtime, events), relay_rates),
            ]
            for measure, rates in runs if trial % 2 == 0 else reversed(runs):
                rates.append(await _measure(servers, settings, events, measure))
            left = await runtime.pool.fetchval(f'SELECT count(*) FROM "{REGISTRY}".outbox')
            if left:
                raise RuntimeError(f"{left} outbox rows left after the relay drained")
        relay = runtime.relay
        detail = (
            f"N={events} events of ~{sum(len(m[1]) for m in messages) // len(messages)} B per run, {trials} runs "
            f"each, alternating order; relay concurrency={relay.concurrency}, batch={relay.batch_size}; "
            f"relay msg/s: {_fmt(relay_rates)}; raw msg/s: {_fmt(raw_rates)}; "
            f"best/best ratio {max(relay_rates) / max(raw_rates):.2f}"
        )
    finally:
        await runtime.stop()
    relay_median, raw_median = median(relay_rates), median(raw_rates)
    return [
        make_row(
            "events.relay_throughput", value=relay_median, unit="msg/s", baseline=raw_median,
            goal="relay >= 50% of raw nats-py publish_async (baseline: same payloads, subject, stream, Nats-Msg-Id)",
            met=relay_median / raw_median >= 0.5, detail=detail,
        )
    ]


def _fmt(values: list[float]) -> str:
    return "/".join(f"{v:,.0f}" for v in values)


# ---------------------------------------------------------------- pg_notify cost under concurrent writers


async def _write_for(pool: asyncpg.Pool, statement: str, production: bool, seconds: float, writers: int) -> int:
    """Commits of one-event transactions by ``writers`` concurrent connections in ``seconds``."""
    stop_at = time.perf_counter() + seconds
    counts = [0] * writers

    async def writer(index: int) -> None:
        async with pool.acquire() as conn:
            while time.perf_counter() < stop_at:
                event = area_event(index * 1_000_000 + counts[index])
                async with conn.transaction():
                    if production:  # the production single-event write: insert + notify unless a relay is awake
                        await add_events_asyncpg(conn, REGISTRY, [event], source=REGISTRY)
                    else:  # the same insert without any notify
                        envelope = Envelope(type=event.subject, source=REGISTRY, data=event.model_dump(mode="json"))
                        await conn.execute(statement, envelope.id, envelope.type, envelope.model_dump_json())
                counts[index] += 1

    await asyncio.gather(*(writer(i) for i in range(writers)))
    return sum(counts)


async def notify_cost(servers: Servers, *, writers: int, seconds: float, trials: int) -> list[dict[str, Any]]:
    """Outbox write throughput of the production write against the same inserts without a notify.

    PostgreSQL takes a global lock on the notification queue at commit and keeps it through the
    WAL flush, so concurrent notifying commits serialise there.  Three variants, alternating:
    ``awake`` (the production write while a relay is awake: its advisory flag is held, as
    ``OutboxRelay`` holds it while events keep coming, so writers skip the notify), ``asleep``
    (the production write with no relay awake: every write notifies, as every write did before
    the flag) and ``plain`` (the baseline: the same INSERT, no notify, no flag check)."""
    pool = await asyncpg.create_pool(asyncpg_dsn(servers.database_url), min_size=writers, max_size=writers)
    flag = await asyncpg.connect(asyncpg_dsn(servers.database_url))  # stands for an awake relay's session
    statement = (f'INSERT INTO "{REGISTRY}".outbox (id, subject, payload, headers) '
                 "VALUES ($1, $2, $3::jsonb, '{}'::jsonb)")
    rates: dict[str, list[float]] = {"awake": [], "asleep": [], "plain": []}
    try:
        for trial in range(trials):
            order = list(rates) if trial % 2 == 0 else list(reversed(rates))
            for variant in order:
                await truncate(servers.database_url, [f'"{REGISTRY}".outbox'])
                if variant == "awake":
                    assert await flag.fetchval(RAISE_AWAKE_FLAG, AWAKE_LOCK_CLASS, notify_channel(REGISTRY))
                try:
                    done = await _write_for(pool, statement, variant != "plain", seconds, writers)
                finally:
                    if variant == "awake":
                        await flag.fetchval(LOWER_AWAKE_FLAG, AWAKE_LOCK_CLASS, notify_channel(REGISTRY))
                rates[variant].append(done / seconds)
    finally:
        await flag.close()
        await pool.close()
        await truncate(servers.database_url, [f'"{REGISTRY}".outbox'])
    # Each trial runs the variants back to back, so a trial's ratio shares the machine's load of the
    # moment; the figure is the median of the per-trial costs (medians of rates mix unlike moments).
    value, baseline = median(rates["awake"]), median(rates["plain"])
    pairs = [1 - a / p for a, p in zip(rates["awake"], rates["plain"], strict=True)]
    cost = median(pairs)
    old_cost = median([1 - a / p for a, p in zip(rates["asleep"], rates["plain"], strict=True)])
    return [
        make_row(
            "events.outbox_write_with_notify", value=value, unit="tx/s", baseline=baseline,
            goal="the outbox write's notify costs <= 10% of write throughput under concurrent writers (baseline: "
                 "the same inserts without any notify)",
            met=cost <= 0.10,
            detail=f"{writers} concurrent writers, one event per transaction, {seconds:g} s x {trials} runs of each "
                   f"variant, rotating order; production write while a relay is awake (no notify) tx/s: "
                   f"{_fmt(rates['awake'])}; plain insert: {_fmt(rates['plain'])}; median of the per-trial "
                   f"costs {cost:.1%} (each trial: {'/'.join(f'{c:.0%}' for c in pairs)}); for comparison a "
                   f"notify on every write (no relay awake, the old behaviour): {_fmt(rates['asleep'])} tx/s, "
                   f"median per-trial cost {old_cost:.1%}; "
                   f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores",
        )
    ]


# ---------------------------------------------------------------- consumer throughput (diagnostic)


async def consumer_throughput(servers: Servers, *, events: int, target_rate: float) -> list[dict[str, Any]]:
    """msg/s of the production EventConsumer (area replica, inbox, ack after commit) draining a backlog."""
    settings = servers.settings()
    await prepare_latency_run(servers, settings)
    producer = Runtime(registry_workers_spec(), settings)
    await producer.start(workers=False)
    try:
        assert producer.sessionmaker and producer.relay
        await fill_outbox(producer.sessionmaker, events)
        await producer.relay.drain()
    finally:
        await producer.stop()
    spec = ServiceSpec(name=CONSUMER_SERVICE, title="benefits", description="area replica",
                       subscriptions=[area_replica_subscription(CONSUMER_SERVICE)])
    runtime = Runtime(spec, settings)
    await runtime.start(workers=False)
    try:
        consumer = runtime.consumers[0]
        await consumer.subscribe()
        started, applied = time.perf_counter(), 0
        while applied < events:
            fetched = await consumer.poll(timeout=5.0)
            if not fetched:
                raise RuntimeError(f"the consumer stalled after {applied} of {events} events")
            applied += fetched
        elapsed = time.perf_counter() - started
    finally:
        await runtime.stop()
    rate = events / elapsed
    return [
        make_row(
            "events.consumer_throughput", value=rate, unit="msg/s", baseline=target_rate,
            goal=f">= {target_rate:,.0f} msg/s, the e2e target rate: a slower consumer falls ever further behind "
            "(baseline = that rate)",
            met=rate >= target_rate,
            detail=f"one production EventConsumer (area replica, batch {consumer.batch_size}) draining "
            f"{events} events already in the stream, alone",
        )
    ]


# ---------------------------------------------------------------- 2. commit-to-effect latency


async def prepare_latency_run(servers: Servers, settings: Settings) -> None:
    await reset_streams(servers.nats_url, settings)
    await truncate(
        servers.database_url,
        [f'"{REGISTRY}".outbox', f'"{REGISTRY}".area', f'"{CONSUMER_SERVICE}".inbox', f'"{CONSUMER_SERVICE}".area'],
    )
    conn = await asyncpg.connect(servers.database_url)
    try:
        await conn.executemany(
            f'INSERT INTO "{REGISTRY}".area (code, parent_code, level, name) VALUES ($1, $2, $3, $1)', ANCESTORS
        )
    finally:
        await conn.close()


async def end_to_end_latency(
    servers: Servers, *, rate: float, seconds: float, producers: int = 2, writers: int = 8, warmup: float = 1.0,
    prefix: str = "events.e2e",
) -> list[dict[str, Any]]:
    settings = servers.settings()
    total = int(rate * seconds)
    await prepare_latency_run(servers, settings)
    base = {"database_url": servers.database_url, "nats_url": servers.nats_url}
    async with _Children() as children:
        consumer = await children.start("consumer", base)
        relay = await children.start("relay", base)
        load = {"rate": rate, "total": total, "producers": producers, "writers": writers}
        senders = [await children.start("producer", {**base, **load, "index": k}) for k in range(producers)]
        backlog = Backlog(servers.database_url)
        sampling = asyncio.create_task(backlog.sample())
        # Run-queue waits: the relay's and consumer's read here from the start to the last effect;
        # each producer reports its own (from its start signal to its last commit).
        sched_before = {"relay": schedstat(relay.proc.pid), "consumer": schedstat(consumer.proc.pid)}
        start_at = time.time() + 0.5
        for sender in senders:
            await sender.send({"go": start_at})
        commits: dict[str, float] = {}
        cpu: dict[str, float] = {"producers": 0.0}
        waits: dict[str, tuple[float, float]] = {}
        try:
            for k, sender in enumerate(senders):
                done = await sender.result(timeout=seconds + 120)
                commits.update(done["result"])
                cpu["producers"] += done["cpu"]
                waits[f"producer-{k}"] = tuple(done["schedstat"])  # type: ignore[assignment]
            await _wait_for_effects(servers.database_url, total)
            for role, child in (("relay", relay), ("consumer", consumer)):
                waits[role] = _minus(schedstat(child.proc.pid), sched_before[role])
        finally:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
        stored = await store_times(servers.nats_url, STREAM, len(commits))
        await relay.send({"stop": True})
        await consumer.send({"stop": True})
        consumed = await consumer.result(timeout=60)
        effects: dict[str, float] = consumed["result"]
        cpu["consumer"] = consumed["cpu"]
        cpu["relay"] = (await relay.result(timeout=60))["cpu"]
    rows = latency_rows(commits, effects, rate=rate, warmup=warmup, producers=producers, writers=writers,
                        prefix=prefix, stored=stored)
    cpu_per_event = ", ".join(f"{role} {seconds * 1000 / total:.2f} ms" for role, seconds in cpu.items())
    for row in rows:
        row["detail"] += f"; {backlog.summary()}; CPU per event: {cpu_per_event}; {schedstat_summary(waits)}"
    return rows


def schedstat(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for a CPU) summed over the threads of ``pid``
    (``/proc/<pid>/task/<tid>/schedstat``); a thread that ended between two readings drops out."""
    on_cpu = waiting = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0, 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                fields = f.read().split()
        except OSError:
            continue
        on_cpu += int(fields[0])
        waiting += int(fields[1])
    return on_cpu / 1e9, waiting / 1e9


def _minus(after: tuple[float, float], before: tuple[float, float]) -> tuple[float, float]:
    return after[0] - before[0], after[1] - before[1]


def schedstat_summary(waits: dict[str, tuple[float, float]]) -> str:
    """Per child: CPU seconds used and seconds spent runnable without a CPU (run-queue wait) during the run."""
    parts = [f"{role} {on:.2f}s on CPU / {wait:.2f}s waiting for one ({wait / on if on else 0:.2f} s per CPU s)"
             for role, (on, wait) in waits.items()]
    return "per process during the run (schedstat): " + ", ".join(parts)


async def store_times(nats_url: str, stream: str, expected: int, timeout: float = 60.0) -> dict[str, float]:
    """JetStream's store time (epoch seconds) of each message in ``stream``, by ``Nats-Msg-Id``
    (the event id), read back with an ordered consumer after the run."""
    nc = await nats.connect(nats_url)
    stored: dict[str, float] = {}
    try:
        js = nc.jetstream()
        sub = await js.subscribe(">", stream=stream, ordered_consumer=True)
        deadline = time.monotonic() + timeout
        while len(stored) < expected and time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=5)
            except nats.errors.TimeoutError:
                break
            event_id = (msg.headers or {}).get(Header.MSG_ID)
            if event_id:
                stored[event_id] = msg.metadata.timestamp.timestamp()
        await sub.unsubscribe()
    finally:
        await nc.close()
    return stored


class Backlog:
    """Samples where events wait during the run: in the outbox (relay) or on the way to the replica."""

    def __init__(self, database_url: str, interval: float = 0.5) -> None:
        self.database_url, self.interval = database_url, interval
        self.max_outbox = self.max_unapplied = 0

    async def sample(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            while True:
                row = await conn.fetchrow(
                    f'SELECT (SELECT count(*) FROM "{REGISTRY}".outbox) AS outbox, '
                    f'(SELECT count(*) FROM "{REGISTRY}".area WHERE parent_code = $1) '
                    f'- (SELECT count(*) FROM "{CONSUMER_SERVICE}".area WHERE parent_code = $1) AS unapplied',
                    PARENT,
                )
                assert row is not None
                self.max_outbox = max(self.max_outbox, row["outbox"])
                self.max_unapplied = max(self.max_unapplied, row["unapplied"])
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()

    def summary(self) -> str:
        return (f"largest backlog seen (every {self.interval:g}s): {self.max_outbox} in the outbox, "
                f"{self.max_unapplied} committed but not yet applied by the consumer")


async def _wait_for_effects(database_url: str, total: int) -> None:
    """Until the consumer's replica holds every village (the effect); fails when it stops progressing."""
    conn = await asyncpg.connect(database_url)
    try:
        applied, progressed_at = -1, time.monotonic()
        while applied < total:
            now_applied = await conn.fetchval(
                f'SELECT count(*) FROM "{CONSUMER_SERVICE}".area WHERE parent_code = $1', PARENT
            )
            if now_applied > applied:
                applied, progressed_at = now_applied, time.monotonic()
            elif time.monotonic() - progressed_at > STALL_TIMEOUT_SECONDS:
                raise RuntimeError(
                    f"the consumer stalled at {applied} of {total} events for {STALL_TIMEOUT_SECONDS:g}s"
                )
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def _spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {percentile(values, 50):.1f} / p95 {percentile(values, 95):.1f} / p99 {percentile(values, 99):.1f} "
            f"/ max {max(values):.1f} ms")


def stage_split(commits: dict[str, float], effects: dict[str, float], stored: dict[str, float],
                measured: list[str]) -> str:
    """Relay lag (commit -> JetStream store) and consumer lag (store -> applied) of the measured events,
    and of the slowest 1% end to end: which stage the tail comes from."""
    ids = [i for i in measured if i in stored]
    if not ids:
        return "stage split: no store times read back"
    relay = [(stored[i] - commits[i]) * 1000 for i in ids]
    consumer = [(effects[i] - stored[i]) * 1000 for i in ids]
    slowest = sorted(ids, key=lambda i: effects[i] - commits[i])[-max(1, len(ids) // 100):]
    tail_relay = median([(stored[i] - commits[i]) * 1000 for i in slowest])
    tail_consumer = median([(effects[i] - stored[i]) * 1000 for i in slowest])
    return (f"relay lag (commit -> JetStream store) {_spread(relay)}; consumer lag (store -> applied) "
            f"{_spread(consumer)}; the slowest 1% ({len(slowest)}) spent a median {tail_relay:.1f} ms before "
            f"the store and {tail_consumer:.1f} ms after it ({len(ids)} of {len(measured)} store times read)")


def latency_rows(
    commits: dict[str, float], effects: dict[str, float], *, rate: float, warmup: float, producers: int, writers: int,
    prefix: str = "events.e2e", stored: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    missing = set(commits) - set(effects)
    if missing:
        raise RuntimeError(f"{len(missing)} committed events have no recorded effect")
    first, last = min(commits.values()), max(commits.values())
    achieved = (len(commits) - 1) / (last - first) if last > first else 0.0
    measured = [i for i, t in commits.items() if t >= first + warmup]
    latencies = [(effects[i] - commits[i]) * 1000 for i in measured]
    if not latencies:
        raise RuntimeError("the run was shorter than the warm-up: no latencies to report")
    rate_ok = achieved >= rate * RATE_SHORTFALL_ALLOWED
    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
    detail = (
        f"{len(commits)} events in {last - first:.1f}s, {producers} producer processes x {writers} writers; "
        f"{len(latencies)} measured after {warmup:g}s warm-up; p50 {p50:.1f} / p95 {p95:.1f} / p99 {p99:.1f} / "
        f"max {max(latencies):.1f} ms; achieved {achieved:,.0f} events/s; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    if stored is not None:
        detail += "; " + stage_split(commits, effects, stored, measured)
    goal = f"<= {LATENCY_GOAL_MS:g} ms at {rate:,.0f} events/s (baseline = the goal)"
    rows = [
        make_row(f"{prefix}_latency_{name}", value=value, unit="ms", baseline=LATENCY_GOAL_MS,
                 goal=f"{name} {goal}", met=value <= LATENCY_GOAL_MS and rate_ok, detail=detail)
        for name, value in (("p50", p50), ("p95", p95), ("p99", p99))
    ]
    rows.append(
        make_row(
            f"{prefix}_rate", value=achieved, unit="events/s", baseline=rate,
            goal=f">= {RATE_SHORTFALL_ALLOWED:.0%} of the {rate:,.0f} events/s target (baseline = the target)",
            met=rate_ok, detail=f"commit rate the producers sustained over {last - first:.1f}s",
        )
    )
    return rows


# ---------------------------------------------------------------- child processes


class _Child:
    def __init__(self, role: str, proc: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self.role, self.proc, self.stderr_path = role, proc, stderr_path

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def receive(self, key: str | None, timeout: float) -> Any:
        """The value under ``key`` of the next message carrying it (``key=None``: the whole result message)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), max(deadline - time.monotonic(), 0.01))
            except asyncio.TimeoutError:
                raise RuntimeError(
                    f"bench {self.role} process: no {key!r} in {timeout:g}s{self.stderr_tail()}"
                ) from None
            if not line:
                await self.proc.wait()
                raise RuntimeError(f"bench {self.role} process exited ({self.proc.returncode}){self.stderr_tail()}")
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours (a library printing to stdout)
            if isinstance(message, dict) and (key or "result") in message:
                return message if key is None else message[key]

    async def result(self, timeout: float) -> dict[str, Any]:
        """The child's closing message: ``result`` plus ``cpu`` (its CPU seconds since it was ready)."""
        return await self.receive(None, timeout)  # type: ignore[no-any-return]

    def stderr_tail(self) -> str:
        try:
            tail = self.stderr_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""
        return f"; its stderr ends:\n{tail}" if tail.strip() else ""


class _Children:
    """Starts the bench's child processes and makes sure none outlives the run."""

    def __init__(self) -> None:
        self.children: list[_Child] = []
        self.log_dir = Path(tempfile.mkdtemp(prefix="gramsetu-bench-logs-"))

    async def __aenter__(self) -> _Children:
        return self

    async def start(self, role: str, config: dict[str, Any], ready_timeout: float = 60.0) -> _Child:
        stderr_path = self.log_dir / f"{role}-{len(self.children)}.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.events_bench", role, json.dumps(config), cwd=ROOT, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr, limit=RESULT_LINE_LIMIT,
            )
        child = _Child(role, proc, stderr_path)
        self.children.append(child)
        await child.receive("ready", ready_timeout)
        return child

    async def __aexit__(self, *exc: object) -> None:
        # A profiled child writes its profile after its result: give it time to finish by itself.
        grace = 20.0 if os.environ.get("GRAMSETU_BENCH_PROFILE_DIR") else 0.0
        for child in self.children:
            if child.proc.returncode is None and grace:
                try:
                    await asyncio.wait_for(child.proc.wait(), grace)
                except asyncio.TimeoutError:
                    pass
            if child.proc.returncode is None:
                child.proc.kill()
            await child.proc.wait()
        shutil.rmtree(self.log_dir, ignore_errors=True)


async def _read_message() -> dict[str, Any]:
    line = await asyncio.to_thread(sys.stdin.readline)
    return json.loads(line) if line.strip() else {"stop": True}  # EOF: the orchestrator is gone


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _say(**message: Any) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _child_settings(config: dict[str, Any]) -> Settings:
    return Settings(database_url=config["database_url"], nats_url=config["nats_url"])


async def _relay_role(config: dict[str, Any]) -> None:
    """The registry's workers: relay woken by NOTIFY, plus its scheduler."""
    runtime = Runtime(registry_workers_spec(), _child_settings(config))
    await runtime.start(workers=True)
    freeze_startup_objects()  # as the service's lifespan does
    try:
        _say(ready=True)
        cpu_at_start = _cpu_seconds()
        await _read_message()
    finally:
        await runtime.stop()
    _say(result={}, cpu=_cpu_seconds() - cpu_at_start)


_APPLIED = "bench.applied_event_ids"
_EFFECTS: dict[str, float] = {}


def _stamp_commit(session: Session) -> None:
    # after_commit also fires when a savepoint is released; only the outer commit publishes the effect.
    if session.in_nested_transaction():
        return
    applied = session.info.pop(_APPLIED, None)
    if applied:
        now = time.time()
        for event_id in applied:
            _EFFECTS[event_id] = now


def timed_area_replica(service: str) -> Subscription:
    """The production area-replica subscription, noting which events each transaction applied."""
    production = area_replica_subscription(service)

    async def apply(session: AsyncSession, event: Event, envelope: Envelope) -> None:
        await production.handler(session, event, envelope)
        session.info.setdefault(_APPLIED, []).append(str(envelope.id))

    async def apply_all(session: AsyncSession, events: list[tuple[Event, Envelope]]) -> None:
        assert production.batch_handler is not None
        await production.batch_handler(session, events)
        session.info.setdefault(_APPLIED, []).extend(str(envelope.id) for _, envelope in events)

    return Subscription(name=production.name, subject=production.subject, handler=apply, batch_handler=apply_all)


async def _consumer_role(config: dict[str, Any]) -> None:
    """The benefits service's workers, consuming area events into its replica."""
    sa_event.listen(Session, "after_commit", _stamp_commit)
    runtime = Runtime(consumer_spec(), _child_settings(config))
    await runtime.start(workers=True)
    freeze_startup_objects()  # as the service's lifespan does
    try:
        _say(ready=True)
        cpu_at_start = _cpu_seconds()
        await _read_message()
    finally:
        await runtime.stop()
    _say(result=_EFFECTS, cpu=_cpu_seconds() - cpu_at_start)


def _literal(value: str | int | None) -> str:
    """An SQL literal (standard_conforming_strings is on, so only quotes need doubling)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def business_write_script(event: AreaCreated) -> tuple[str, str]:
    """(event id, script): one transaction as one simple-query message: the area row, and its outbox row written and
    notified exactly as :func:`kernel.outbox.add_events_asyncpg` does (``outbox_rows`` and
    ``notify_unless_awake``), with values inlined.

    The producers are the load generator, on the same 2 cores as the path being measured.  Sent as
    BEGIN, INSERT, INSERT + notify and COMMIT (four round trips, as asyncpg sends them) they used
    0.58-0.65 ms of CPU per event, more than the relay and the consumer together, plus the
    server-side work of four round trips; one message per transaction leaves that CPU to the
    relay, broker and consumer, whose path is unchanged."""
    (row,) = outbox_rows([event], source=REGISTRY)
    area = ", ".join(_literal(v) for v in (event.code, event.parent_code, event.level, event.name,
                                             event.name_local, event.version))
    outbox = ", ".join(_literal(str(row[k])) for k in ("id", "subject", "payload", "headers"))
    return str(row["id"]), (
        f'BEGIN; INSERT INTO "{REGISTRY}".area (code, parent_code, level, name, name_local, version) '
        f"VALUES ({area}); "
        f'WITH written AS (INSERT INTO "{REGISTRY}".outbox (id, subject, payload, headers) VALUES ({outbox})) '
        f"{notify_unless_awake(_literal(notify_channel(REGISTRY)))}; COMMIT"
    )


async def _producer_role(config: dict[str, Any]) -> None:
    """Commit business row + outbox event transactions on a fixed schedule; report commit times.

    The producers are the load generator, so they write on raw asyncpg connections, one message
    per transaction (:func:`business_write_script`: the same outbox row and notify as a service's
    ``add_event``), leaving the 2 cores to the path being measured: relay, broker, consumer.
    """
    rate, writers = float(config["rate"]), int(config["writers"])
    pool = await asyncpg.create_pool(asyncpg_dsn(config["database_url"]), min_size=writers, max_size=writers)
    # Each transaction's text (event, envelope, outbox row, notify) is made before the run, as a load
    # generator's requests would be: made during it, it took half of a producer's CPU per event (0.30 -> 0.15
    # and 0.19 -> 0.10 ms in back-to-back runs), on the 2 cores the measured path needs.  Still one
    # transaction per event, committed on schedule; only the envelope's occurred_at is earlier.
    scripts = iter([(i, *business_write_script(area_event(i)))
                    for i in range(int(config["index"]), int(config["total"]), int(config["producers"]))])
    commits: dict[str, float] = {}

    async def write(start_at: float) -> None:
        async with pool.acquire() as conn:
            for i, event_id, script in scripts:
                delay = start_at + i / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await conn.execute(script)
                commits[event_id] = time.time()

    try:
        _say(ready=True)
        cpu_at_start = _cpu_seconds()
        start_at = float((await _read_message())["go"])
        sched_at_start = schedstat(os.getpid())
        await asyncio.gather(*(write(start_at) for _ in range(writers)))
        sched = _minus(schedstat(os.getpid()), sched_at_start)
    finally:
        await pool.close()
    _say(result=commits, cpu=_cpu_seconds() - cpu_at_start, schedstat=sched)


ROLES = {"relay": _relay_role, "consumer": _consumer_role, "producer": _producer_role}


# ---------------------------------------------------------------- entry point for the runner


async def run() -> list[dict[str, Any]]:
    servers = await get_servers()
    rows = await relay_throughput(
        servers,
        events=env_int("GRAMSETU_BENCH_RELAY_EVENTS", 20_000),
        trials=env_int("GRAMSETU_BENCH_RELAY_TRIALS", 3),
    )
    rows += await notify_cost(
        servers,
        writers=env_int("GRAMSETU_BENCH_NOTIFY_WRITERS", 8),
        seconds=env_float("GRAMSETU_BENCH_NOTIFY_SECONDS", 3.0),
        trials=env_int("GRAMSETU_BENCH_NOTIFY_TRIALS", 3),
    )
    rate = env_float("GRAMSETU_BENCH_E2E_RATE", 1000.0)
    rows += await consumer_throughput(
        servers, events=env_int("GRAMSETU_BENCH_CONSUMER_EVENTS", 5_000), target_rate=rate
    )
    rows += await end_to_end_latency(
        servers,
        rate=rate,
        seconds=env_float("GRAMSETU_BENCH_E2E_SECONDS", 12.0),
        producers=env_int("GRAMSETU_BENCH_E2E_PRODUCERS", 2),
    )
    light_rate = env_float("GRAMSETU_BENCH_E2E_LIGHT_RATE", 200.0)
    if light_rate > 0:
        # Diagnostic: the same path at a light load shows the latency of the path itself,
        # apart from any backlog a saturated machine builds up at the full rate.
        light = await end_to_end_latency(
            servers, rate=light_rate, seconds=env_float("GRAMSETU_BENCH_E2E_LIGHT_SECONDS", 6.0), producers=1,
            prefix=f"events.e2e_light_{light_rate:g}",
        )
        rows += [row for row in light if row["name"].endswith(("_p99", "_rate"))]
    return rows


def _run_role(role: str, config: dict[str, Any]) -> None:
    profile_dir = os.environ.get("GRAMSETU_BENCH_PROFILE_DIR")
    if not profile_dir:
        run_loop(ROLES[role](config))
        return
    import cProfile

    profiler = cProfile.Profile(time.process_time)  # CPU time: a loaded machine would swamp wall time
    profiler.enable()
    try:
        run_loop(ROLES[role](config))
    finally:
        profiler.disable()
        profiler.dump_stats(str(Path(profile_dir) / f"{role}-{os.getpid()}.prof"))


if __name__ == "__main__":
    _run_role(sys.argv[1], json.loads(sys.argv[2]))
