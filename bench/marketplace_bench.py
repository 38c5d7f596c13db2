"""Marketplace benchmarks (issue #16): nearest-available search among N workers for a common and a
0.1%-rare trade, at the database and at the service; booking creation throughput.

Data: ``MARKETPLACE_BENCH_WORKERS`` workers (default 1,000,000) at random points of Uttar Pradesh's
bounding box (77.0-84.6 E, 23.8-30.4 N), half of them available; nine common trades (~11% each) and
one rare trade (0.1%).  Rows are written with ``INSERT ... SELECT generate_series`` and the search
index is built after the load (as an operator would for a bulk enrolment).

(a) **Search at the database** (``marketplace.search_db_p99_common`` / ``_rare``): the service's own
query (:func:`services.marketplace.repository.search.nearest_sql`: KNN on the trade's lane of the
partial GiST point index, bounded by a box of the radius) as a prepared asyncpg statement,
``MARKETPLACE_BENCH_QUERIES`` (default 2,000) random points, 25 km, 24 candidates, one at a time.
Baseline in the same run: the rare-skill trap, i.e. the same KNN on a GiST over plain positions with
the trade as a filter (what a core-PostgreSQL design without lanes and without ``btree_gist`` does).
Goal: p99 <= 5 ms.

(b) **Search at the service** (``marketplace.search_service_p99_*``): ``GET /search`` on the
marketplace under uvicorn in a child process (workers off), signed identity as the gateway sends it,
one request at a time from this process; latency per round trip.  Baseline: the database p99 of (a).
Goal: p99 <= 15 ms.

(c) **Booking creation** (``marketplace.booking_rate``): ``POST /bookings`` from 16 concurrent
keep-alive connections of the lean load generator (``bench/tickets_load.py``: each request encoded
once, httptools' parser; aiohttp spent 0.3-0.5 ms of CPU per booking on the same two cores) for
``MARKETPLACE_BENCH_BOOKING_SECONDS`` (default 10 s): each booking is priced from the rate card,
recorded with its transition and outbox event, matched and offered to the nearest free worker with its
time-out job, in one transaction.  The service's connection pool holds 16 connections and no overflow
(``GRAMSETU_DB_POOL_SIZE``/``_MAX_OVERFLOW`` in its environment, as a deployment keeps its maximum in the
pool), so no connection is opened during the phase.  Baseline: raw asyncpg inserts of a booking row, a
transition row and an outbox row per transaction at the same concurrency.  Goal: >= 500 bookings/s.

(b) and (c) also report the service process's own CPU per request (user + system time from
``/proc/<pid>/stat`` over the phase): on a shared machine the latencies mostly measure the scheduler,
the CPU says what a request costs.  Every detail carries the load average of the run.

Child process: ``python -m bench.marketplace_bench serve PORT``.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import asyncpg

from bench.common import (
    ROOT,
    child_env,
    env_float,
    env_int,
    get_servers,
    make_row,
    percentile,
    process_cpu_seconds,
    stop_process,
    wait_ready,
)
from bench.tickets_load import encode_request, fire_for
from gramsetu.embedded import free_port
from services.marketplace.repository.search import nearest_params, nearest_sql

AREA = "IN-09"
BOX = (23.8, 30.4, 77.0, 84.6)
COMMON, RARE = 1, 10
TODAY = date(2026, 12, 7)
CONCURRENCY = 16


async def _load_workers(conn: asyncpg.Connection, workers: int) -> float:
    started = time.perf_counter()
    await conn.execute("TRUNCATE marketplace.worker_skill, marketplace.booking_transition, marketplace.booking_extra, "
                       "marketplace.booking, marketplace.worker, marketplace.vendor, marketplace.rate, "
                       "marketplace.rate_item, marketplace.cancellation_terms, marketplace.category, "
                       "marketplace.scheduled_job, marketplace.outbox CASCADE")
    for k in range(1, 11):
        await conn.execute("INSERT INTO marketplace.category (code, name, skill_no) VALUES ($1, $1, $2)", f"c{k}", k)
        await conn.execute("INSERT INTO marketplace.rate_item (code, category_code, kind, name) "
                           "VALUES ($1, $2, 'job', $1)", f"c{k}.job", f"c{k}")
        await conn.execute("INSERT INTO marketplace.rate (item_code, area_code, valid_from, amount_minor, "
                           "created_by) VALUES ($1, 'IN', '2020-01-01', 25000, 'bench')", f"c{k}.job")
    vendor = uuid.uuid4()
    await conn.execute("INSERT INTO marketplace.vendor (id, code, name, area_code, created_by) "
                       "VALUES ($1, 'bench', 'bench', 'IN-09', 'bench')", vendor)
    await conn.execute("DROP INDEX marketplace.ix_worker_skill_pos_matchable")
    await conn.execute("SELECT setseed(0.42)")
    await conn.execute(
        "INSERT INTO marketplace.worker (id, vendor_id, name, phone, home_area_code, service_area_code, home_lat, "
        "home_lon, lat, lon, available, service_radius_km, created_by, updated_by) "
        "SELECT gen_random_uuid(), $1, 'w' || g, '+919800000000', 'IN-09', 'IN-09', lat, lon, lat, lon, g % 2 = 0, 25, "
        "'bench', 'bench' FROM (SELECT g, 23.8 + random() * 6.6 AS lat, 77.0 + random() * 7.6 AS lon "
        "FROM generate_series(1, $2) g) s", vendor, workers)
    await conn.execute(
        "INSERT INTO marketplace.worker_skill (worker_id, category_code, skill_no, pos, matchable) "
        "SELECT id, 'c' || k, k, point(lon + 400 * k, lat), available FROM (SELECT id, lon, lat, available, "
        "CASE WHEN random() < 0.001 THEN 10 ELSE 1 + floor(random() * 9)::int END AS k FROM marketplace.worker) s")
    await conn.execute("CREATE INDEX ix_worker_skill_pos_matchable ON marketplace.worker_skill USING gist (pos) "
                       "WHERE matchable")
    # The trap's table: the same available workers on a GiST over plain positions.
    await conn.execute("DROP TABLE IF EXISTS marketplace.bench_plain")
    await conn.execute("CREATE TABLE marketplace.bench_plain AS SELECT s.worker_id, s.skill_no, point(w.lon, w.lat) "
                       "AS pos FROM marketplace.worker_skill s JOIN marketplace.worker w ON w.id = s.worker_id "
                       "WHERE s.matchable")
    await conn.execute("CREATE INDEX ON marketplace.bench_plain USING gist (pos)")
    await conn.execute("VACUUM ANALYZE marketplace.worker_skill")
    await conn.execute("VACUUM ANALYZE marketplace.worker")
    await conn.execute("ANALYZE marketplace.bench_plain")
    return time.perf_counter() - started


def _points(n: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(rng.uniform(BOX[0] + 0.3, BOX[1] - 0.3), rng.uniform(BOX[2] + 0.3, BOX[3] - 0.3)) for _ in range(n)]


async def _db_latencies(conn: asyncpg.Connection, skill: int, points: list[tuple[float, float]], *,
                        trap: bool) -> tuple[list[float], float]:
    if trap:
        stmt = await conn.prepare("SELECT worker_id FROM marketplace.bench_plain WHERE skill_no = $3 "
                                  "ORDER BY pos <-> point($1, $2) LIMIT 24")
    else:
        stmt = await conn.prepare(nearest_sql(24))
    out, found = [], 0
    for lat, lon in points:
        started = time.perf_counter()
        if trap:
            rows = await stmt.fetch(lon, lat, skill)
        else:
            rows = await stmt.fetch(*nearest_params(lat, lon, 25.0, skill, [], TODAY))
        out.append((time.perf_counter() - started) * 1000)
        found += len(rows)
    return out, found / len(points)


def _identity_headers(secret: str) -> dict[str, str]:
    from kernel.auth import Identity, sign_identity

    identity = Identity(subject="bench-app", kind="client", roles=["admin"], scopes=["*"], area_scope=["IN"],
                        expires_at=time.time() + 3600)
    return sign_identity(identity, secret)


async def _service_latencies(url: str, headers: dict[str, str], skill: int,
                             points: list[tuple[float, float]]) -> list[float]:
    import aiohttp

    out = []
    async with aiohttp.ClientSession(headers=headers) as http:
        for lat, lon in points[:20]:  # warm-up
            async with http.get(f"{url}/search", params=_search_params(skill, lat, lon)) as resp:
                await resp.read()
        for lat, lon in points:
            started = time.perf_counter()
            async with http.get(f"{url}/search", params=_search_params(skill, lat, lon)) as resp:
                await resp.read()
                assert resp.status == 200, await resp.text()
            out.append((time.perf_counter() - started) * 1000)
    return out


def _search_params(skill: int, lat: float, lon: float) -> dict[str, str]:
    return {"category": f"c{skill}", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "area": AREA, "radius_km": "25"}


async def _booking_rate(port: int, headers: dict[str, str], seconds: float) -> tuple[float, int, int]:
    rng = random.Random(11)

    def bookings() -> Iterator[bytes]:  # each to a place of its own, encoded as it is sent
        while True:
            lat, lon = rng.uniform(BOX[0] + 0.3, BOX[1] - 0.3), rng.uniform(BOX[2] + 0.3, BOX[3] - 0.3)
            body = {"job_code": f"c{rng.randint(1, 9)}.job", "area_code": AREA, "lat": lat, "lon": lon,
                    "address": "bench", "customer_name": "Bench", "customer_phone": "+919812345678"}
            yield encode_request("POST", "/bookings", body, headers, f"127.0.0.1:{port}")

    started = time.perf_counter()
    done, errors = await fire_for("127.0.0.1", port, bookings(), seconds, CONCURRENCY)
    return done / (time.perf_counter() - started), done, errors


async def _raw_insert_rate(database_url: str, seconds: float) -> float:
    """Baseline: one booking row, one transition row and one outbox row per transaction, raw asyncpg."""
    pool = await asyncpg.create_pool(database_url, min_size=CONCURRENCY, max_size=CONCURRENCY)
    rate_id = await pool.fetchval("SELECT id FROM marketplace.rate LIMIT 1")
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                booking_id = uuid.uuid4()
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO marketplace.booking (id, channel, status, category_code, job_code, area_code, "
                        "lat, lon, address, slot_start, slot_end, customer_name, customer_phone, customer_subject, "
                        "max_radius_km, priced_on, job_rate_id, price_minor, visit_charge_minor, terms, "
                        "start_otp_hash, completion_otp_hash, created_by) VALUES ($1, 'app', 'requested', 'c1', "
                        "'c1.job', 'IN-09', 26.8, 80.9, 'x', now(), now() + interval '2 hours', 'x', '+919812345678', "
                        "'bench', 15, current_date, $2, 25000, 0, '{}', 'h', 'h', 'bench')", booking_id, rate_id)
                    await conn.execute("INSERT INTO marketplace.booking_transition (booking_id, to_status, action, "
                                       "actor) VALUES ($1, 'requested', 'create', 'bench')", booking_id)
                    await conn.execute("INSERT INTO marketplace.outbox (id, subject, payload) VALUES ($1, "
                                       "'marketplace.booking.created.v1', '{}'::jsonb)", uuid.uuid4())
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    rate = done / (time.perf_counter() - started)
    await pool.close()
    return rate


def _spawn(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench.marketplace_bench", "serve", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _summary(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50):.2f} ms, p90 {percentile(values, 90):.2f} ms, "
            f"p99 {percentile(values, 99):.2f} ms, max {max(values):.1f} ms")


async def run() -> list[dict[str, Any]]:
    servers = await get_servers()
    workers = env_int("MARKETPLACE_BENCH_WORKERS", 1_000_000)
    queries = env_int("MARKETPLACE_BENCH_QUERIES", 2000)
    booking_seconds = env_float("MARKETPLACE_BENCH_BOOKING_SECONDS", 10.0)
    conn = await asyncpg.connect(servers.database_url)
    try:
        load_seconds = await _load_workers(conn, workers)
        rare_count = await conn.fetchval("SELECT count(*) FROM marketplace.worker_skill WHERE skill_no = $1", RARE)
        points = _points(queries, 3)
        db: dict[str, Any] = {}
        for name, skill in (("common", COMMON), ("rare", RARE)):
            await _db_latencies(conn, skill, points[:50], trap=False)  # warm the cache
            lanes, found = await _db_latencies(conn, skill, points, trap=False)
            trap, trap_found = await _db_latencies(conn, skill, points[: max(queries // 4, 50)], trap=True)
            db[name] = (lanes, found, trap, trap_found)
    finally:
        await conn.close()
    env = child_env(servers.database_url, servers.nats_url)
    env["GRAMSETU_RUN_WORKERS"] = "false"
    # The service's connection pool as large as the booking phase's concurrency, no overflow (as the
    # tickets bench sizes its pools): with the default 10 + 10 overflow, 16 concurrent bookings kept
    # opening and closing overflow connections (20-35 new sessions in 10 s at 1M workers, each a
    # connect, asyncpg's type introspection, the statements prepared and planned afresh), about a
    # third more service CPU per booking (docs/marketplace.md).
    env["GRAMSETU_DB_POOL_SIZE"], env["GRAMSETU_DB_MAX_OVERFLOW"] = str(CONCURRENCY), "0"
    headers = _identity_headers(env["GRAMSETU_IDENTITY_SECRET"])
    port = free_port()
    proc = _spawn(port, env)
    try:
        await wait_ready(port, proc)
        url = f"http://127.0.0.1:{port}"
        service, service_cpu = {}, {}
        for name, skill in (("common", COMMON), ("rare", RARE)):
            cpu = process_cpu_seconds(proc.pid)
            service[name] = await _service_latencies(url, headers, skill, points[: max(queries // 2, 50)])
            service_cpu[name] = (process_cpu_seconds(proc.pid) - cpu) * 1000 / (len(service[name]) + 20)
        cpu = process_cpu_seconds(proc.pid)
        booking_rate, booked, booking_errors = await _booking_rate(port, headers, booking_seconds)
        booking_cpu = (process_cpu_seconds(proc.pid) - cpu) * 1000 / max(booked + booking_errors, 1)
    finally:
        stop_process(proc)
    raw_rate = await _raw_insert_rate(servers.database_url, booking_seconds)
    conn = await asyncpg.connect(servers.database_url)
    await conn.execute("DROP TABLE IF EXISTS marketplace.bench_plain")
    await conn.close()
    setup = (f"{workers:,} workers ({rare_count:,} of the rare trade, half available) loaded and indexed in "
             f"{load_seconds:.0f}s; N from MARKETPLACE_BENCH_WORKERS")
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = []
    for name in ("common", "rare"):
        lanes, found, trap, trap_found = db[name]
        p99, trap_p99 = percentile(lanes, 99), percentile(trap, 99)
        rows.append(make_row(
            f"marketplace.search_db_p99_{name}", value=p99, unit="ms", baseline=trap_p99, goal="<= 5 ms",
            met=p99 <= 5.0,
            detail=f"{len(lanes):,} queries, 25 km, {found:.1f} candidates on average; {_summary(lanes)}; baseline = "
                   f"plain GiST KNN with the trade as a filter (the rare-skill trap), {len(trap):,} queries, "
                   f"{_summary(trap)}, {trap_found:.1f} found (no radius bound); {setup}; load average {load}"))
        svc = service[name]
        rows.append(make_row(
            f"marketplace.search_service_p99_{name}", value=percentile(svc, 99), unit="ms", baseline=p99,
            goal="<= 15 ms", met=percentile(svc, 99) <= 15.0,
            detail=f"GET /search, {len(svc):,} requests one at a time to one uvicorn process; {_summary(svc)}; "
                   f"service CPU {service_cpu[name]:.2f} ms per request (its own process, whatever else runs); "
                   f"baseline = the database p99 of the same query; load average {load}"))
    rows.append(make_row(
        "marketplace.booking_rate", value=booking_rate, unit="bookings/s", baseline=raw_rate, goal=">= 500/s",
        met=booking_rate >= 500,
        detail=f"POST /bookings from {CONCURRENCY} connections for {booking_seconds:.0f}s: {booked:,} created "
               f"(priced, recorded, event, matched, offered with a time-out job), {booking_errors} refused; one "
               f"uvicorn process (pool of {CONCURRENCY}, no overflow) using {booking_cpu:.2f} ms of CPU per booking; "
               f"load average {load}; "
               f"baseline = raw asyncpg insert of booking + transition + outbox rows per "
               f"transaction at the same concurrency"))
    return rows


def _serve(port: int) -> None:
    import uvicorn

    from kernel.settings import Settings
    from services.marketplace.app import create_app

    app = create_app(Settings(), workers=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, proxy_headers=False,
                loop="uvloop", http="httptools", lifespan="on")


def main(argv: list[str]) -> None:
    if argv[0] == "serve":
        _serve(int(argv[1]))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
