"""Tickets figures: escalation on time with a million open tickets, poll cost, creation throughput.

* ``tickets.escalation_lateness_max``: N open tickets (``GRAMSETU_BENCH_TICKETS_OPEN``, default
  1,000,000) with their SLA rows and one scheduler job per deadline, loaded with set-based SQL;
  D of them (``GRAMSETU_BENCH_TICKETS_DUE``) get first-response deadlines spread over a window a
  few seconds ahead.  The service's own scheduler (its job handlers, leases, commit per job; W
  workers, ``GRAMSETU_BENCH_TICKETS_WORKERS``) runs with the system clock; the bench LISTENs to the
  service's live channel and records when each escalation commits.  Goal: every one within 2 s
  of its deadline.
* ``tickets.escalation_burst_lateness_max``: the same, but D other tickets all due at one instant
  (business calendars make deadlines coincide: the weekend's tickets are all due at the same minute on
  Monday).  It shows what a burst costs: W workers each run one breach job at a time.
* ``tickets.gauges_refresh``: the gauges job's work at N open (fold the open-count deltas, count the
  near-breach and breached clocks from the deadline index); baseline: a full recount of the open
  tickets by level and category, as the job did before.
* ``tickets.poll_cost_open`` / ``tickets.poll_cost_per_due``: the scheduler's poll (claim + run
  of no-op probe jobs) with nothing due, before and after the N tickets are loaded (grows with
  open tickets? it should not), and with 100 and 1,000 due probe jobs at N open (grows with due
  jobs).  Baseline: a sweep that scans open tickets' clocks for passed deadlines, as a cron would.
* ``tickets.create_rate``: tickets raised one per request, ``POST /tickets`` on the service's HTTP
  API: one uvicorn process, or P with ``GRAMSETU_BENCH_TICKETS_PROCESSES`` (replicas on ports of their own,
  the connections spread evenly over them as a Service does; not uvicorn's ``--workers`` on one socket,
  where whichever worker woke first accepted most connections, once all 16), each run with the options
  ``gramsetu serve`` uses; C keep-alive connections, ``GRAMSETU_BENCH_TICKETS_CREATE`` tickets; signed
  identity headers as the gateway forwards them; the gateway itself is not in the path.  Each is routed,
  numbered, gets two clocks in business time, two deadline jobs, a timeline entry and an outbox event,
  and commits on its own.  The load generator is ``bench/tickets_load.py`` (pre-encoded requests,
  httptools' parser: ~0.1 ms of CPU a request where httpx took 1.4 ms on the same two cores).
  Baseline: the same rows written by raw asyncpg, one transaction per ticket (five statements), at the
  same concurrency, in the same number of processes, in the same run.
* ``tickets.create_rate_batched``: the same tickets through the intake endpoint,
  ``POST /tickets/batches`` with B tickets per request (``GRAMSETU_BENCH_TICKETS_BATCH``, 100; each
  request one transaction), C connections.  Baseline: the same rows by raw asyncpg, B tickets
  per transaction with one multi-row statement per table.  Both creation figures count tickets
  committed per second of wall time on the same machine as the load generator.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
from sqlalchemy import text

from bench.common import (
    ROOT,
    child_env,
    env_int,
    get_servers,
    make_row,
    percentile,
    stop_process,
    truncate,
    wait_ready,
)
from bench.tickets_load import encode_request, fire
from gramsetu.embedded import free_port
from kernel.auth import Identity, sign_identity
from kernel.db import make_engine, make_sessionmaker
from kernel.scheduler import Job, Scheduler
from kernel.settings import get_settings

VILLAGE, BLOCK, DISTRICT, STATE = "IN-23-0456-2210-123456-654321", "IN-23-0456-2210", "IN-23-0456", "IN-23"
ALL_DAY = {d: [["00:00", "23:59:59.999999"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
PROBE = "tickets.bench_probe"


async def _setup_desks(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    """An always-open calendar (business time = wall time, so deadlines are easy to place) and three desks."""
    cal = await conn.fetchval(
        "INSERT INTO tickets.calendar (name, timezone, working_hours) VALUES ('bench 24x7', 'Asia/Kolkata', $1) "
        "RETURNING id", json.dumps(ALL_DAY))
    desks = {}
    for level, area in (("state", STATE), ("district", DISTRICT), ("block", BLOCK)):
        desks[level] = await conn.fetchval(
            "INSERT INTO tickets.desk (name, area_code, level, calendar_id) VALUES ($1, $2, $3, $4) RETURNING id",
            f"bench {level} desk", area, level, cal)
    await conn.execute("INSERT INTO tickets.sla_policy (level, category, first_response_minutes, resolution_minutes) "
                       "VALUES ('block', '*', 600, 6000), ('district', '*', 600, 6000), ('state', '*', 600, 6000)")
    return desks


async def _load_open(conn: asyncpg.Connection, block_desk: uuid.UUID, n: int) -> float:
    """N open tickets at the block desk, two running clocks each, one job per deadline (30+ days away)."""
    started = time.perf_counter()
    await conn.execute(
        "INSERT INTO tickets.ticket (tracking_number, category, priority, status, title, description, language, "
        "area_code, desk_id, desk_area_code, level, level_seq, raised_by, reporter, channel, created_at, updated_at) "
        "SELECT 'B' || lpad(i::text, 8, '0'), 'app_problem', 'normal', 'new', 'bench', 'bench', 'hi', $1, $2, $3, "
        "'block', 0, 'bench', '{\"name\": \"bench\"}', 'app', now(), now() FROM generate_series(1, $4) i",
        VILLAGE, block_desk, BLOCK, n)
    await conn.execute(
        "INSERT INTO tickets.ticket_sla (ticket_id, level_seq, level, desk_id, kind, target_seconds, started_at, "
        "running_since, deadline_at) SELECT t.id, 0, 'block', t.desk_id, k.kind, k.secs, now(), now(), "
        "now() + make_interval(days => 30, secs => k.secs + (random() * 86400)::int) "
        "FROM tickets.ticket t CROSS JOIN (VALUES ('first_response', 36000), ('resolution', 360000)) k(kind, secs)")
    await conn.execute(
        "INSERT INTO tickets.scheduled_job (kind, key, due_at, payload) SELECT 'tickets.sla_breach', "
        "s.ticket_id || ':0:' || s.kind, s.deadline_at, jsonb_build_object('ticket_id', s.ticket_id::text, "
        "'level_seq', 0, 'kind', s.kind) FROM tickets.ticket_sla s")
    await conn.execute("ANALYZE tickets.ticket; ANALYZE tickets.ticket_sla; ANALYZE tickets.scheduled_job")
    return time.perf_counter() - started


async def _make_due(conn: asyncpg.Connection, due: int, lead: float, window: float,
                    skip: int = 0) -> dict[uuid.UUID, datetime]:
    """Move the first-response deadline of ``due`` tickets (after the first ``skip``) to now + lead .. now + lead
    + window (window 0: all at the same instant)."""
    rows = await conn.fetch(
        "WITH picked AS (SELECT id, row_number() OVER (ORDER BY tracking_number) AS i FROM tickets.ticket "
        f"ORDER BY tracking_number OFFSET {int(skip)} LIMIT $1), "
        "moved AS (UPDATE tickets.ticket_sla s SET deadline_at = clock_timestamp() "
        "+ make_interval(secs => $2 + $3 * p.i / $1) FROM picked p WHERE s.ticket_id = p.id "
        "AND s.kind = 'first_response' RETURNING s.ticket_id, s.deadline_at) "
        "UPDATE tickets.scheduled_job j SET due_at = m.deadline_at FROM moved m "
        "WHERE j.kind = 'tickets.sla_breach' AND j.key = m.ticket_id || ':0:first_response' "
        "RETURNING m.ticket_id, m.deadline_at", due, lead, window)
    return {r["ticket_id"]: r["deadline_at"] for r in rows}


async def _escalation_lateness(database_url: str, deadlines: dict[uuid.UUID, datetime], workers: int,
                               timeout: float) -> dict[str, Any]:
    from services.tickets.app import SPEC
    from services.tickets.repository.tickets import HOLD_LIVE_WATCH

    seen: dict[uuid.UUID, datetime] = {}
    listener = await asyncpg.connect(database_url)

    def on_notify(_c: object, _p: int, _ch: str, payload: str) -> None:
        ticket = uuid.UUID(json.loads(payload)["ticket"])
        if ticket in deadlines and ticket not in seen:
            seen[ticket] = datetime.now(timezone.utc)

    await listener.add_listener("tickets_live", on_notify)
    await listener.execute(HOLD_LIVE_WATCH)  # a live listener, as a stream's hub is: writers notify it
    engine = make_engine(database_url, pool_size=workers + 2, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    stop = asyncio.Event()
    schedulers = [Scheduler(service="tickets", schema="tickets", sessionmaker=sessionmaker,
                            handlers={"tickets.sla_breach": SPEC.jobs["tickets.sla_breach"]},
                            batch_size=20, poll_interval=0.1) for _ in range(workers)]
    tasks = [asyncio.create_task(s.run(stop)) for s in schedulers]
    last_deadline = max(deadlines.values())
    give_up = last_deadline + timedelta(seconds=timeout)
    while len(seen) < len(deadlines) and datetime.now(timezone.utc) < give_up:  # noqa: ASYNC110 - polls a dict
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await listener.close()
    await engine.dispose()
    late = [(seen[t] - d).total_seconds() for t, d in deadlines.items() if t in seen]
    return {"escalated": len(seen), "max": max(late, default=float("inf")), "p50": percentile(late, 50),
            "p99": percentile(late, 99), "missing": len(deadlines) - len(seen)}


def _probe_scheduler(sessionmaker: Any, batch: int) -> Scheduler:
    async def noop(_session: object, _job: Job) -> None:
        return None

    return Scheduler(service="tickets", schema="tickets", sessionmaker=sessionmaker,
                     handlers={PROBE: noop}, batch_size=batch)  # type: ignore[dict-item]


async def _add_probes(conn: asyncpg.Connection, due: int) -> None:
    await conn.execute(
        "INSERT INTO tickets.scheduled_job (kind, key, due_at) SELECT $1, 'probe-' || i || '-' || "
        "gen_random_uuid(), now() - interval '1 second' FROM generate_series(1, $2) i", PROBE, due)


async def _poll_ms(database_url: str, due: int, repeats: int = 5) -> tuple[float, float]:
    """Median (client-observed poll ms, server execution ms of the scheduler's claim statement) when ``due``
    no-op probe jobs are due.  The server figure is the kernel's own claim SQL under EXPLAIN ANALYZE (rolled
    back): what the database does per poll, free of this machine's CPU contention."""
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    scheduler = _probe_scheduler(sessionmaker, max(due, 1))
    claim = "EXPLAIN (ANALYZE, FORMAT JSON) " + scheduler._claim.text
    client, server = [], []
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(repeats):
            await _add_probes(conn, due)
            async with sessionmaker() as session, session.begin():
                plan = (await session.execute(text(claim), {
                    "me": "bench", "lease": 30, "now": None, "limit": max(due, 1), "kinds": [PROBE]})).scalar_one()
                server.append(float((plan if isinstance(plan, list) else json.loads(plan))[0]["Execution Time"]))
                await session.rollback()
            started = time.perf_counter()
            ran = await scheduler.run_due()
            client.append((time.perf_counter() - started) * 1000)
            assert ran == due, (ran, due)
    finally:
        await conn.close()
        await engine.dispose()
    return sorted(client)[len(client) // 2], sorted(server)[len(server) // 2]


async def _gauges_ms(database_url: str, conn: asyncpg.Connection) -> tuple[float, float]:
    """Median ms of the service's gauges refresh (open counts folded from deltas, near-breach and breached from
    the deadline index) and of a full recount of the open tickets by level and category (what it replaced)."""
    from services.tickets.service.gauges import refresh_gauges

    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    refresh, recount = [], []
    try:
        for _ in range(3):
            started = time.perf_counter()
            async with sessionmaker() as session, session.begin():
                await refresh_gauges(session, datetime.now(timezone.utc))
            refresh.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await conn.fetch("SELECT level, category, count(*) FROM tickets.ticket WHERE status IN ('new', 'assigned', "
                             "'in_progress', 'waiting_on_reporter', 'reopened', 'escalated') GROUP BY level, category")
            recount.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    return sorted(refresh)[1], sorted(recount)[1]


async def _naive_sweep_ms(conn: asyncpg.Connection) -> float:
    """What a cron sweep does: look at every open ticket's live clocks for a passed deadline."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        await conn.fetch(
            "SELECT t.id FROM tickets.ticket t JOIN tickets.ticket_sla s ON s.ticket_id = t.id "
            "AND s.level_seq = t.level_seq WHERE t.status NOT IN ('resolved', 'closed') "
            "AND s.met_at IS NULL AND s.stopped_at IS NULL AND s.breached_at IS NULL "
            "AND s.deadline_at + interval '0 second' <= now()")  # the + keeps the planner off the deadline index
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[1]


# ---------------------------------------------------------------- creation through the service


def bench_app() -> Any:
    """The service as the creation figures run it: its HTTP API without its background workers."""
    from services.tickets.app import create_app

    return create_app(workers=False)


def _serve(port: int) -> None:
    """The service under uvicorn on ``port``, with the options ``gramsetu serve`` uses (one replica)."""
    import uvicorn

    from kernel.http import uvicorn_options

    uvicorn.run(bench_app(), **uvicorn_options(), host="127.0.0.1", port=port, log_level="warning")


async def start_replicas(database_url: str, nats_url: str, processes: int,
                         secret: str | None = None) -> tuple[list[int], list[Any]]:
    """``processes`` service processes, each on a port of its own (replicas), trusting identities signed
    with ``secret`` (this process's by default); returns (ports, processes) once all listen."""
    env = child_env(database_url, nats_url) | {"GRAMSETU_IDENTITY_SECRET": secret or get_settings().identity_secret}
    ports = [free_port() for _ in range(processes)]
    procs = [subprocess.Popen(  # noqa: ASYNC220 - wait_ready polls them without blocking
        [sys.executable, "-c", f"from bench.tickets_bench import _serve; _serve({port})"], cwd=ROOT, env=env)
        for port in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            await wait_ready(port, proc)
    except BaseException:
        stop_process(*procs)
        raise
    return ports, procs


def _headers() -> dict[str, str]:
    identity = Identity(subject="bench-worker", kind="user", roles=["anganwadi_worker"],
                        scopes=["tickets:read", "tickets:write"], area_scope=[VILLAGE],
                        expires_at=time.time() + 3600)
    return sign_identity(identity, get_settings().identity_secret)


async def _create_rate(database_url: str, nats_url: str, count: int, concurrency: int, batch: int = 1,
                       processes: int = 1) -> tuple[float, int]:
    """Tickets per second through the service: one per ``POST /tickets``, or ``batch`` per ``POST /batches``;
    ``processes`` service processes (replicas), C keep-alive connections from the lean load generator spread
    evenly over them."""
    ports, procs = await start_replicas(database_url, nats_url, processes)
    try:
        body = {"category": "app_problem", "title": "Tablet does not sync", "description": "bench",
                "area_code": VILLAGE, "reporter": {"name": "Sunita Devi", "phone": "+919876543210"}}
        path, payload = ("/", body) if batch == 1 else ("/batches", {"tickets": [body] * batch})
        request = encode_request("POST", path, payload, _headers(), "127.0.0.1")
        requests = max(count // batch, 1)
        # Warm-up: every process's statements prepared and routes cached.
        await fire("127.0.0.1", ports, request, (5 if batch > 1 else 20) * processes, concurrency)
        started = time.perf_counter()
        errors = await fire("127.0.0.1", ports, request, requests, concurrency)
        elapsed = time.perf_counter() - started
        return requests * batch / elapsed, errors
    finally:
        stop_process(*procs)


def _served_by(processes: int) -> str:
    return ("one uvicorn process" if processes == 1 else
            f"{processes} service processes (replicas, GRAMSETU_BENCH_TICKETS_PROCESSES) on ports of their own, "
            f"the connections spread evenly over them")


def _raw_child(database_url: str, desk: str, count: int, concurrency: int, batch: int, offset: int) -> None:
    """One process of a baseline run in several (prints its start and end, wall clock)."""
    span: list[float] = []
    if batch == 1:
        asyncio.run(_raw_rate(database_url, uuid.UUID(desk), count, concurrency, offset, span))
    else:
        asyncio.run(_raw_batched_rate(database_url, uuid.UUID(desk), count, concurrency, batch, offset, span))
    print(json.dumps({"started": span[0], "finished": span[1]}))


async def _raw_in_processes(database_url: str, desk: uuid.UUID, count: int, concurrency: int, batch: int,
                            processes: int) -> float:
    """The raw baseline as the service is run: ``processes`` processes, each a share of the tickets and of
    the connections; tickets per second from the first start to the last end."""
    if processes == 1:
        if batch == 1:
            return await _raw_rate(database_url, desk, count, concurrency)
        return await _raw_batched_rate(database_url, desk, count, concurrency, batch)
    share, per = count // processes, max(concurrency // processes, 1)
    children = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", f"from bench.tickets_bench import _raw_child; _raw_child({database_url!r}, "
                              f"{str(desk)!r}, {share}, {per}, {batch}, {k * 10_000_000})",
        cwd=ROOT, env=child_env(database_url, ""), stdout=asyncio.subprocess.PIPE) for k in range(processes)]
    spans = [json.loads((await child.communicate())[0]) for child in children]
    wall = max(s["finished"] for s in spans) - min(s["started"] for s in spans)
    return share * processes / wall


async def _raw_batched_rate(database_url: str, desk: uuid.UUID, count: int, concurrency: int, batch: int,
                            offset: int = 0, span: list[float] | None = None) -> float:
    """The same rows per ticket by raw asyncpg, ``batch`` tickets per transaction, one statement per table
    (``span``: gets the wall-clock start and end of the measured part)."""
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    batches = iter(range(offset, offset + max(count // batch, 1)))
    reporter = json.dumps({"name": "Sunita Devi", "phone": "+919876543210"})

    async def one(conn: asyncpg.Connection, b: int) -> None:
        ids = [uuid.uuid4() for _ in range(batch)]
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO tickets.ticket (id, tracking_number, category, priority, status, title, description, "
                "language, area_code, desk_id, desk_area_code, level, raised_by, reporter, channel, created_at, "
                "updated_at) SELECT i, 'Q' || $2::text || '-' || n, 'app_problem', 'normal', 'new', 'bench', "
                "'bench', 'hi', $3, $4, $5, 'block', 'bench', $6::jsonb, 'app', now(), now() "
                "FROM unnest($1::uuid[]) WITH ORDINALITY u(i, n)", ids, str(b), VILLAGE, desk, BLOCK, reporter)
            await conn.execute(
                "INSERT INTO tickets.ticket_sla (ticket_id, level_seq, level, desk_id, kind, target_seconds, "
                "started_at, running_since, deadline_at) SELECT i, 0, 'block', $2, k, 3600, now(), now(), "
                "now() + interval '1 day' FROM unnest($1::uuid[]) i, unnest(ARRAY['first_response', 'resolution']) k",
                ids, desk)
            await conn.execute(
                "INSERT INTO tickets.scheduled_job (kind, key, due_at) SELECT 'tickets.sla_breach', i::text || k, "
                "now() + interval '1 day' FROM unnest($1::uuid[]) i, "
                "unnest(ARRAY[':0:first_response', ':0:resolution']) k", ids)
            await conn.execute(
                "INSERT INTO tickets.timeline (ticket_id, desk_id, at, actor, actor_kind, kind, public) "
                "SELECT i, $2, now(), 'bench', 'reporter', 'created', true FROM unnest($1::uuid[]) i", ids, desk)
            await conn.execute(
                "INSERT INTO tickets.outbox (id, subject, payload, headers) SELECT gen_random_uuid(), "
                "'tickets.ticket.created.v1', jsonb_build_object('ticket_id', i), '{}'::jsonb "
                "FROM unnest($1::uuid[]) i", ids)

    async def worker() -> None:
        async with pool.acquire() as conn:
            for b in batches:
                await one(conn, b)

    started, wall_started = time.perf_counter(), time.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if span is not None:
        span += [wall_started, time.time()]
    await pool.close()
    return max(count // batch, 1) * batch / elapsed


async def _raw_rate(database_url: str, desk: uuid.UUID, count: int, concurrency: int, offset: int = 0,
                    span: list[float] | None = None) -> float:
    """The same rows per ticket as the service writes, by raw asyncpg, one transaction per ticket (``span``:
    gets the wall-clock start and end of the measured part)."""
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    counter = iter(range(offset, offset + count))
    reporter = json.dumps({"name": "Sunita Devi", "phone": "+919876543210"})

    async def one(conn: asyncpg.Connection, i: int) -> None:
        async with conn.transaction():
            tid = await conn.fetchval(
                "INSERT INTO tickets.ticket (tracking_number, category, priority, status, title, description, "
                "language, area_code, desk_id, desk_area_code, level, raised_by, reporter, channel, created_at, "
                "updated_at) VALUES ($1, 'app_problem', 'normal', 'new', 'bench', 'bench', 'hi', $2, $3, $4, "
                "'block', 'bench', $5, 'app', now(), now()) RETURNING id",
                f"R{i:08d}", VILLAGE, desk, BLOCK, reporter)
            await conn.execute(
                "INSERT INTO tickets.ticket_sla (ticket_id, level_seq, level, desk_id, kind, target_seconds, "
                "started_at, running_since, deadline_at) SELECT $1, 0, 'block', $2, k, 3600, now(), now(), "
                "now() + interval '1 day' FROM unnest(ARRAY['first_response', 'resolution']) k", tid, desk)
            await conn.execute(
                "INSERT INTO tickets.scheduled_job (kind, key, due_at) SELECT 'tickets.sla_breach', $1 || k, "
                "now() + interval '1 day' FROM unnest(ARRAY[':0:first_response', ':0:resolution']) k", str(tid))
            await conn.execute(
                "INSERT INTO tickets.timeline (ticket_id, desk_id, at, actor, actor_kind, kind, public) "
                "VALUES ($1, $2, now(), 'bench', 'reporter', 'created', true)", tid, desk)
            await conn.execute(
                "INSERT INTO tickets.outbox (id, subject, payload, headers) VALUES ($1, 'tickets.ticket.created.v1', "
                "$2::jsonb, '{}'::jsonb)", uuid.uuid4(), json.dumps({"ticket_id": str(tid)}))

    async def worker() -> None:
        async with pool.acquire() as conn:
            for i in counter:
                await one(conn, i)

    started, wall_started = time.perf_counter(), time.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if span is not None:
        span += [wall_started, time.time()]
    await pool.close()
    return count / elapsed


# ---------------------------------------------------------------- run


async def run() -> list[dict[str, Any]]:
    servers = await get_servers()
    url = servers.database_url
    n = env_int("GRAMSETU_BENCH_TICKETS_OPEN", 1_000_000)
    due = env_int("GRAMSETU_BENCH_TICKETS_DUE", 300)
    workers = env_int("GRAMSETU_BENCH_TICKETS_WORKERS", 4)
    create = env_int("GRAMSETU_BENCH_TICKETS_CREATE", 3_000)
    concurrency = env_int("GRAMSETU_BENCH_TICKETS_CONCURRENCY", 16)
    window = float(os.environ.get("GRAMSETU_BENCH_TICKETS_WINDOW", "30"))
    batch = env_int("GRAMSETU_BENCH_TICKETS_BATCH", 100)
    processes = env_int("GRAMSETU_BENCH_TICKETS_PROCESSES", 1)
    await truncate(url, ["tickets.timeline", "tickets.escalation", "tickets.ticket_sla", "tickets.ticket",
                         "tickets.agent", "tickets.desk", "tickets.holiday", "tickets.calendar", "tickets.sla_policy",
                         "tickets.sla_policy_version", "tickets.scheduled_job", "tickets.outbox",
                         "tickets.open_delta", "tickets.open_count"])
    conn = await asyncpg.connect(url)
    try:
        desks = await _setup_desks(conn)
        load_create = os.getloadavg()[0]
        create_rate, create_errors = await _create_rate(url, servers.nats_url, create, concurrency, 1, processes)
        raw_rate = await _raw_in_processes(url, desks["block"], create, concurrency, 1, processes)
        batched_rate, batched_errors = await _create_rate(url, servers.nats_url, create, concurrency, batch,
                                                          processes)
        raw_batched = await _raw_in_processes(url, desks["block"], create, concurrency, batch, processes)
        await conn.execute("TRUNCATE tickets.timeline, tickets.escalation, tickets.ticket_sla, tickets.ticket, "
                           "tickets.scheduled_job, tickets.outbox")
        poll_empty_before = await _poll_ms(url, 0)
        load_seconds = await _load_open(conn, desks["block"], n)
        await conn.execute("VACUUM ANALYZE tickets.ticket, tickets.ticket_sla, tickets.scheduled_job")
        await conn.execute("CHECKPOINT")
        poll_empty_after = await _poll_ms(url, 0)
        poll_100 = await _poll_ms(url, 100)
        poll_1000 = await _poll_ms(url, 1000)
        sweep = await _naive_sweep_ms(conn)
        gauges_ms, recount_ms = await _gauges_ms(url, conn)
        open_now = await conn.fetchval("SELECT count(*) FROM tickets.ticket WHERE status = 'new'")
        deadlines = await _make_due(conn, due, lead=5.0, window=window)
        late = await _escalation_lateness(url, deadlines, workers, timeout=30)
        # A burst: business calendars make deadlines coincide (every ticket raised over a weekend is due at
        # the same minute on Monday), so the same number falls due at one instant.
        burst_deadlines = await _make_due(conn, due, lead=5.0, window=0.0, skip=due)
        burst = await _escalation_lateness(url, burst_deadlines, workers, timeout=60)
    finally:
        await conn.close()
    return [
        make_row("tickets.escalation_lateness_max", value=late["max"], unit="s", baseline=2.0,
                 goal="every breaching ticket escalated <= 2 s after its deadline, with 1,000,000 open",
                 met=late["max"] <= 2.0 and late["missing"] == 0, errors=late["missing"],
                 detail=f"{late['escalated']:,}/{len(deadlines):,} first-response breaches over {window:.0f}s "
                        f"({len(deadlines) / window:.0f}/s) among "
                        f"{open_now:,} open tickets ({2 * open_now:,} live deadline jobs); escalation commit minus "
                        f"deadline p50 {late['p50']:.3f}s, p99 {late['p99']:.3f}s; {workers} scheduler workers "
                        f"(poll 0.1 s, batch 20) in one process; load {load_seconds:.0f}s; baseline = the goal"),
        make_row("tickets.escalation_burst_lateness_max", value=burst["max"], unit="s", baseline=2.0,
                 goal="every breaching ticket escalated <= 2 s after its deadline, when they all fall due at once",
                 met=burst["max"] <= 2.0 and burst["missing"] == 0, errors=burst["missing"],
                 detail=f"{burst['escalated']:,}/{len(burst_deadlines):,} first-response breaches due at the same "
                        f"instant among {open_now:,} open tickets; p50 {burst['p50']:.3f}s, p99 {burst['p99']:.3f}s; "
                        f"{workers} scheduler workers (poll 0.1 s, batch 20) in one process, one breach job at a "
                        f"time each; baseline = the goal"),
        make_row("tickets.gauges_refresh", value=gauges_ms, unit="ms", baseline=recount_ms,
                 goal="the gauges' refresh does not recount the open tickets (below a recount)",
                 met=gauges_ms < recount_ms,
                 detail=f"the tickets.refresh_gauges work at {open_now:,} open (open counts folded from the deltas "
                        f"written since the last refresh, near-breach and breached as ranges of the deadline "
                        f"index), median of 3; baseline = one recount of the open tickets by level and category"),
        make_row("tickets.poll_cost_open", value=poll_empty_after[1], unit="ms", baseline=poll_empty_before[1],
                 goal="the scheduler's claim costs the same with 1,000,000 open tickets as with none (ratio <= 2)",
                 met=poll_empty_after[1] <= 2 * max(poll_empty_before[1], 0.05),
                 detail=f"server execution of the kernel's claim statement with nothing due: "
                        f"{poll_empty_before[1]:.3f} ms with 0 open tickets, {poll_empty_after[1]:.3f} ms with "
                        f"{open_now:,} open ({2 * open_now:,} future jobs); whole poll seen by the client "
                        f"{poll_empty_before[0]:.1f} ms and {poll_empty_after[0]:.1f} ms (this machine's load)"),
        make_row("tickets.poll_cost_due", value=poll_1000[1], unit="ms", baseline=sweep,
                 goal="the claim grows with due jobs (1,000 due > 2x 100 due), far below a sweep over open tickets",
                 met=poll_1000[1] > 2 * poll_100[1] and poll_1000[1] < sweep,
                 detail=f"server execution of the claim of 100 due jobs {poll_100[1]:.2f} ms, of 1,000 due "
                        f"{poll_1000[1]:.2f} ms, at {open_now:,} open; running them (commit per job) took "
                        f"{poll_100[0]:.0f} / {poll_1000[0]:.0f} ms client-side; baseline = one cron-style sweep "
                        f"over the open tickets' clocks, {sweep:.0f} ms to find nothing due"),
        make_row("tickets.create_rate", value=create_rate, unit="tickets/s", baseline=raw_rate,
                 goal=">= 1,000 tickets/s through the service", met=create_rate >= 1000, errors=create_errors,
                 detail=f"{create:,} POST /tickets over HTTP to {_served_by(processes)}, {concurrency} keep-alive "
                        f"connections from the lean load generator (bench/tickets_load.py) on the same cores "
                        f"(routing, tracking number, 2 clocks in business time, 2 deadline jobs, timeline, outbox "
                        f"event each; one autocommit statement per ticket); baseline = the same rows by raw "
                        f"asyncpg, one transaction per ticket, {concurrency} connections in {processes} "
                        f"process(es); load average {load_create:.1f} at the start"),
        make_row("tickets.create_rate_batched", value=batched_rate, unit="tickets/s", baseline=raw_batched,
                 goal=">= 1,000 tickets/s through the service", met=batched_rate >= 1000, errors=batched_errors,
                 detail=f"{create:,} tickets as POST /tickets/batches of {batch} (an offline intake: each request "
                        f"one transaction, each ticket routed, numbered, clocked, job-scheduled, on the timeline "
                        f"and in the outbox) to {_served_by(processes)}, {concurrency} keep-alive connections; "
                        f"baseline = the same rows by raw asyncpg, {batch} tickets per transaction, one multi-row "
                        f"statement per table, in {processes} process(es)"),
    ]


def main() -> None:
    from bench.common import close_servers, run_loop

    async def go() -> list[dict[str, Any]]:
        try:
            return await run()
        finally:
            await close_servers()

    for row in run_loop(go()):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
