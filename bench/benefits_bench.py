"""Benefits figures (``benefits.*``), each beside a baseline measured in the same run.

* ``benefits.post_batched_rate``: ledger entries posted through the service's HTTP API,
  ``POST /entries/batch`` with 1,000 entries per request, to the benefits app under uvicorn in a
  child process (``gramsetu serve benefits --no-workers``; signed identity headers as the gateway
  forwards them, the gateway itself not in the path), from B concurrent callers (``_BATCH_CALLERS``, default 2) on the
  same machine.  Every rule check runs: scheme, period, amount, department ownership (the caller is
  a department client on the poster list), idempotency by reference, person and cluster resolution,
  exclusivity against live grants; hash chain, signed head, outbox events.
  Baseline: a plain INSERT of the same rows (13 of the entry's columns) into a table of those
  columns without indexes or constraints, asyncpg ``executemany``, 1,000 rows per transaction, from
  B connections at once (the same B as the measured figure).
* ``benefits.post_single_rate``: the same, one entry per ``POST /entries`` (one transaction each),
  from C concurrent callers (``_CALLERS``, default 8).  Baseline: one plain INSERT of one row per
  transaction into the same unindexed table, from C connections at once (the same C).
* ``benefits.coverage_area_seconds``: eligibility and coverage counts plus the first page of the
  door-to-door list for one scheme over an area of N persons, through the service functions in this
  process (what ``GET /coverage`` and ``/coverage/gaps`` call).  Baseline: a plain count of the
  area's persons.  The figure is taken after an ANALYZE of the ledger (as autovacuum would leave it):
  with the statistics of an empty ledger the planner chose nested loops and 20,000 persons took 5-9 s
  instead of 1 s.
* ``benefits.verify_seconds``: verification of every hash chain over M entries (hashes recomputed
  in SQL, links, signed heads).  Baseline: a sequential scan of the same rows.

A goal is met only when it was measured at its own scale: coverage at 100,000 persons or more, verify
at 10,000,000 entries or more, posting at the default counts (50,000 batched, 2,000 one by one) or
more.  A smaller run reports its figures with ``met`` false.

Scale knobs: GRAMSETU_BENCH_BENEFITS_BATCHED (default 50,000), _SINGLE (2,000), _CALLERS (8, one-by-one
callers), _BATCH_CALLERS (2), _AREA_PERSONS (100,000), _CHAIN_ENTRIES (10,000,000).  Each posting row
also reports the service process's own CPU per entry (user + system time of the uvicorn process from
/proc, the database's and the load generator's excluded): the figure that bounds one process's rate
whatever the machine's load.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import asyncpg

from bench.common import (
    ROOT,
    child_env,
    env_int,
    get_servers,
    make_row,
    process_cpu_seconds,
    stop_process,
    wait_ready,
    waited_seconds,
)
from bench.tickets_load import encode_request, fire_all
from gramsetu.embedded import free_port
from kernel.auth import Identity, sign_identity
from kernel.db import make_engine, make_sessionmaker, transaction
from services.benefits.rules.chain import CONTENT_TYPES, GENESIS, _encode, entry_hash, head_message
from services.benefits.schemas.catalogue import DepartmentIn, SchemeIn
from services.benefits.schemas.ledger import EntryIn
from services.benefits.service import catalogue, chain, coverage, posting
from services.benefits.service.ids import uuid7

AREA = "BD-40-87-90-54-08"
COVERAGE_AREA = "BD-40-87-90-54-09"  # a ward of its own: the posting figures' persons are not in it
ADMIN = Identity(subject="bench", kind="system", roles=["admin"], scopes=["*"], area_scope=["BD", "IN"])
POSTER = "bench-dss-client"  # the department's client that posts over HTTP
WARM_UP = 20
TODAY = date.today()
PERIOD = TODAY.strftime("%Y-%m")
PLAIN_COLUMNS = ("id", "partition", "scheme_code", "person_id", "area_code", "period", "amount_minor", "currency",
                 "delivered_on", "channel", "department_ref", "recorded_by", "recorded_at")


async def _setup_catalogue(sessions: Any) -> None:
    async with transaction(sessions) as session:
        await catalogue.add_department(session, ADMIN, DepartmentIn(code="BD-DSS", country="BD",
                                                                    names={"en": "Social Services"},
                                                                    posters=[POSTER]))
        await catalogue.add_scheme(session, ADMIN, SchemeIn.model_validate({
            "code": "BD-OAA", "department_code": "BD-DSS", "names": {"en": "Old Age Allowance"}, "kind": "cash",
            "amount_minor": 60000, "currency": "BDT", "frequency": "monthly", "area_codes": ["BD"],
            "valid_from": "2020-01-01",
            "rules": {"eligibility": {"all": [{"attr": "age", "op": "ge", "value": 65},
                                              {"any": [{"attr": "sex", "op": "eq", "value": "female"},
                                                       {"attr": "disabled", "op": "eq", "value": True}]}]},
                      "exclusivity": {"per_person": True}, "policy": {"on_conflict": "hold"}}}))


async def _persons(database_url: str, count: int, area: str = AREA) -> list[uuid.UUID]:
    """Persons in benefits' registry copy (as its consumer would have written them), via COPY."""
    ids = [uuid7() for _ in range(count)]
    records = [(pid, None, area, f"Person {i}", "female" if i % 2 else "male", None, 1930 + i % 80,
                "visual" if i % 17 == 0 else None, False, None, "active", None, pid, 1)
               for i, pid in enumerate(ids)]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table("person", schema_name="benefits", records=records, columns=[
            "id", "household_id", "area_code", "full_name", "sex", "birth_date", "birth_year", "disability",
            "pregnant", "marital_status", "status", "merged_into", "cluster_id", "version"])
        await conn.execute("ANALYZE benefits.person")
    finally:
        await conn.close()
    return ids


def _bodies(persons: list[uuid.UUID], prefix: str) -> list[EntryIn]:
    return [EntryIn(scheme="BD-OAA", person_id=pid, period=PERIOD, amount_minor=60000, currency="BDT",
                    delivered_on=TODAY, channel="mobile_money", department_ref=f"{prefix}-{i}")
            for i, pid in enumerate(persons)]


def _poster_headers(secret: str) -> dict[str, str]:
    """A department's client (on BD-DSS's poster list, no admin role) as the gateway forwards it."""
    identity = Identity(subject=POSTER, kind="client", roles=["none"],
                        scopes=["benefits:read", "benefits:write", "benefits:post"], area_scope=["BD"],
                        expires_at=time.time() + 3 * 3600)
    return sign_identity(identity, secret)


async def _backends(database_url: str) -> list[int]:
    """The PostgreSQL backend processes connected to the bench database (on this machine)."""
    conn = await asyncpg.connect(database_url)
    try:
        return [r[0] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                               "AND pid <> pg_backend_pid()")]
    finally:
        await conn.close()


def _cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            out[pid] = process_cpu_seconds(pid)
        except OSError:  # ended meanwhile
            pass
    return out


@dataclass
class Posted:
    """One posting measurement: the rate, entries not accepted, and CPU per entry (ms) of the service
    process, of the database backends serving it, and of this load generator; the service process's
    wait for a CPU over the run (s) and the run's length (s)."""

    rate: float
    errors: int
    service_ms: float
    database_ms: float
    client_ms: float
    waited: float
    elapsed: float


async def _http_rate(url: str, headers: dict[str, str], pid: int, bodies: list[EntryIn], batch: int,
                     callers: int, database_url: str) -> Posted:
    """Entries per second posted over HTTP by ``callers`` concurrent callers: ``POST /entries`` when
    ``batch`` is 1, else ``POST /entries/batch`` with ``batch`` entries per request, with what each
    side spent (``Posted``)."""
    db_before = _cpu_of(await _backends(database_url))
    started, cpu, waited, own = time.perf_counter(), process_cpu_seconds(pid), waited_seconds(pid), time.process_time()
    if batch == 1:
        errors = await _post_one_by_one(url, headers, bodies, callers)
    else:
        errors = await _post_batches(url, headers, bodies, batch, callers)
    elapsed, cpu_ms = time.perf_counter() - started, (process_cpu_seconds(pid) - cpu) * 1000 / len(bodies)
    own_ms, waited = (time.process_time() - own) * 1000 / len(bodies), waited_seconds(pid) - waited
    db_after = _cpu_of(await _backends(database_url))
    db_ms = sum(t - db_before.get(p, 0.0) for p, t in db_after.items()) * 1000 / len(bodies)
    return Posted(len(bodies) / elapsed, errors, cpu_ms, db_ms, own_ms, waited, elapsed)


async def _post_one_by_one(url: str, headers: dict[str, str], bodies: list[EntryIn], callers: int) -> int:
    """Each entry its own ``POST /entries`` from the lean load generator (``bench/tickets_load.py``: requests
    encoded before, keep-alive connections, httptools' parser), the one the tickets and marketplace creation
    figures use: aiohttp spent 0.34 ms of CPU per posting in this process, on the same two cores as the
    service and PostgreSQL.  Returns how many were not answered 201."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    requests = [encode_request("POST", "/entries", json.loads(_json(body)), headers, f"{host}:{port}")
                for body in bodies]  # encoded before the clock starts
    return await fire_all(host, [int(port)], requests, callers)


async def _post_batches(url: str, headers: dict[str, str], bodies: list[EntryIn], batch: int, callers: int) -> int:
    """``POST /entries/batch`` of ``batch`` entries (aiohttp: its cost per entry is a thousandth of a
    request's); returns how many entries were not accepted."""
    import aiohttp

    calls = []
    for i in range(0, len(bodies), batch):  # serialised before the clock starts
        chunk = bodies[i:i + batch]
        calls.append((b'{"entries":[' + b",".join(map(_json, chunk)) + b"]}", len(chunk)))
    pending = iter(calls)
    errors = 0

    async def caller(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for payload, count in pending:
            async with http.post(f"{url}/entries/batch", data=payload) as resp:
                answer = await resp.read()
                errors += count if resp.status not in (200, 201) else count - json.loads(answer)["accepted"]

    connector = aiohttp.TCPConnector(limit=callers)
    async with aiohttp.ClientSession(headers={**headers, "Content-Type": "application/json"}, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=600)) as http:
        await asyncio.gather(*(caller(http) for _ in range(callers)))
    return errors


def _json(body: EntryIn) -> bytes:
    return body.model_dump_json(exclude_none=True).encode()


async def _post_over_http(servers: Any, persons: list[uuid.UUID], batched: int, single: int, batch_callers: int,
                          callers: int) -> dict[str, Posted]:
    """Both posting figures against one uvicorn process of the benefits service."""
    env = child_env(servers.database_url, servers.nats_url)
    headers = _poster_headers(env["GRAMSETU_IDENTITY_SECRET"])
    port = free_port()
    # As `make run` and a Kubernetes pod run it; the relay and the sweep (workers) are not what this measures.
    argv = [sys.executable, "-m", "gramsetu.cli", "serve", "benefits", "--host", "127.0.0.1", "--port", str(port),
            "--no-workers"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        await wait_ready(port, proc)
        url = f"http://127.0.0.1:{port}"
        # Warm-up (imports, prepared statements, the first lane of the month), on persons of its own.
        warm = persons[batched + single:]
        db = servers.database_url
        await _http_rate(url, headers, proc.pid, _bodies(warm[:WARM_UP], "w1"), 1, callers, db)
        await _http_rate(url, headers, proc.pid, _bodies(warm[WARM_UP:], "w2"), WARM_UP, 1, db)
        return {"batched": await _http_rate(url, headers, proc.pid, _bodies(persons[:batched], "b"), 1000,
                                            batch_callers, db),
                "single": await _http_rate(url, headers, proc.pid, _bodies(persons[batched:batched + single], "s"),
                                           1, callers, db)}
    finally:
        stop_process(proc)


async def _plain_rate(database_url: str, bodies: list[EntryIn], batch: int, callers: int) -> float:
    """Baseline: the same rows by plain INSERT (asyncpg executemany, ``batch`` rows per transaction) into a
    table of the entry's columns with no index or constraint, from ``callers`` connections at once."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS bench_plain_entry AS SELECT {', '.join(PLAIN_COLUMNS)} "
                           "FROM benefits.entry WITH NO DATA")
        await conn.execute("TRUNCATE bench_plain_entry")
    finally:
        await conn.close()
    sql = (f"INSERT INTO bench_plain_entry ({', '.join(PLAIN_COLUMNS)}) VALUES "
           f"({', '.join(f'${i + 1}' for i in range(len(PLAIN_COLUMNS)))})")
    now = datetime.now(timezone.utc)
    rows = [(uuid7(), f"BD-OAA:{PERIOD}", "BD-OAA", b.person_id, AREA, PERIOD, 60000, "BDT", TODAY,
             "mobile_money", b.department_ref, "bench", now) for b in bodies]
    chunks = iter([rows[i:i + batch] for i in range(0, len(rows), batch)])
    pool = await asyncpg.create_pool(database_url, min_size=callers, max_size=callers)
    try:
        async def caller() -> None:
            async with pool.acquire() as conn:
                for chunk in chunks:
                    async with conn.transaction():
                        await conn.executemany(sql, chunk)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        return len(rows) / (time.perf_counter() - started)
    finally:
        await pool.close()


async def _coverage(sessions: Any, database_url: str, persons: int) -> tuple[float, float, dict[str, Any]]:
    ids = await _persons(database_url, persons, COVERAGE_AREA)
    async with transaction(sessions) as session:  # setup, not measured: a tenth of them already paid this month
        await posting.post(session, ADMIN, _bodies(ids[: persons // 10], "cov"), now=datetime.now(timezone.utc))
    conn = await asyncpg.connect(database_url)
    try:  # fresh statistics, as autovacuum would have them: the ledger grew by every posting above
        await conn.execute("ANALYZE benefits.entry")
    finally:
        await conn.close()
    started = time.perf_counter()
    async with transaction(sessions) as session:
        counts = await coverage.area_coverage(session, ADMIN, COVERAGE_AREA, "BD-OAA", None, TODAY)
        query = await coverage.area_query(session, ADMIN, COVERAGE_AREA, "BD-OAA", None, TODAY)
        from services.benefits.repository.coverage import CoverageRepository

        await CoverageRepository(session).gaps(limit=100, offset=0, **query.kwargs)
    seconds = time.perf_counter() - started
    conn = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        await conn.fetchval("SELECT count(*) FROM benefits.person WHERE area_code >= $1 AND area_code < $2",
                            COVERAGE_AREA, COVERAGE_AREA + ".")
        baseline = time.perf_counter() - started
    finally:
        await conn.close()
    return seconds, baseline, counts.model_dump()


async def _chain_rows(database_url: str, total: int, partitions: int) -> None:
    """``total`` chained entries over ``partitions`` chains (binary COPY, see the section below), each
    chain head signed."""
    now = datetime.now(timezone.utc)
    fixed = {"kind": "grant", "reverses_id": None, "flag_id": None, "scheme_code": "BENCH-V",
             "department_code": "BD-DSS", "rule_version": 1, "beneficiary": "person", "household_id": None,
             "identifier_hash": None, "area_code": AREA, "period": PERIOD, "period_start": TODAY,
             "period_end": TODAY, "amount_minor": 60000, "currency": "BDT", "quantity": None, "unit": None,
             "delivered_on": TODAY, "channel": "mobile_money", "recorded_by": "bench", "evidence_ref": None,
             "decision": "accepted", "file_id": None, "file_row": None, "recorded_at": now}
    await write_chains(database_url, total=total, chains=partitions, prefix="BENCH-", fixed=fixed,
                       key=chain.signing_key(), key_id="ledger-1", now=now)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("VACUUM ANALYZE benefits.entry")
    finally:
        await conn.close()


async def _verify(sessions: Any, database_url: str, entries: int) -> tuple[float, float, Any]:
    await _chain_rows(database_url, entries, max(entries // 10_000, 1))
    async with transaction(sessions) as session:
        report = await chain.verify(session, "BENCH-")
    conn = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        await conn.fetchval("SELECT count(*) FROM benefits.entry WHERE amount_minor >= 0 AND partition >= 'BENCH-'")
        baseline = time.perf_counter() - started
    finally:
        await conn.close()
    return report.seconds, baseline, report


def _posting_row(mode: str, measured: Posted, plain: float, *, goal: int, scale: tuple[int, int],
                 detail: str, baseline: str, server: str) -> dict[str, Any]:
    """A posting figure; ``scale``: (entries posted, the goal's own count), below which it is not met."""
    rate, errors, cpu = measured.rate, measured.errors, measured.service_ms
    total = measured.service_ms + measured.database_ms + measured.client_ms
    checks = "scheme, period, amount, ownership, reference idempotency, person and cluster, exclusivity"
    return make_row(
        f"benefits.post_{mode}_rate", value=rate, unit="entries/s", baseline=plain,
        goal=f">= {goal:,} entries/s (at {scale[1]:,} entries or more)", met=rate >= goal and scale[0] >= scale[1],
        errors=errors,
        detail=f"{detail} ({checks}; chain, signed head, outbox events); {server}; service CPU {cpu:.2f} ms/entry "
               f"(the uvicorn process's user + system time, the database's not counted; one process tops out near "
               f"{1000 / max(cpu, 0.001):,.0f}/s before the database's share); database backends' CPU "
               f"{measured.database_ms:.2f} ms/entry and this load generator's {measured.client_ms:.2f} ms/entry, so "
               f"the three together would run near {2000 / max(total, 0.001):,.0f}/s on two cores of their own; "
               f"the service process waited {measured.waited:.1f} s for a CPU over the {measured.elapsed:.1f} s run; "
               f"baseline = {baseline}; N from GRAMSETU_BENCH_BENEFITS_{mode.upper()}")


async def run() -> list[dict[str, Any]]:
    servers = await get_servers()
    batched, single = env_int("GRAMSETU_BENCH_BENEFITS_BATCHED", 50_000), env_int("GRAMSETU_BENCH_BENEFITS_SINGLE",
                                                                                   2_000)
    area_persons = env_int("GRAMSETU_BENCH_BENEFITS_AREA_PERSONS", 100_000)
    chain_entries = env_int("GRAMSETU_BENCH_BENEFITS_CHAIN_ENTRIES", 10_000_000)
    callers = env_int("GRAMSETU_BENCH_BENEFITS_CALLERS", 8)
    batch_callers = env_int("GRAMSETU_BENCH_BENEFITS_BATCH_CALLERS", 2)
    engine = make_engine(servers.database_url, pool_size=2, max_overflow=0)
    sessions = make_sessionmaker(engine)
    try:
        await _setup_catalogue(sessions)
        persons = await _persons(servers.database_url, batched + single + 2 * WARM_UP)
        load = os.getloadavg()[0]
        posted = await _post_over_http(servers, persons, batched, single, batch_callers, callers)
        batch_plain = await _plain_rate(servers.database_url, _bodies(persons[:batched], "b"), 1000, batch_callers)
        single_plain = await _plain_rate(servers.database_url, _bodies(persons[batched:batched + single], "s"), 1,
                                         callers)
        cov_seconds, cov_baseline, counts = await _coverage(sessions, servers.database_url, area_persons)
        verify_seconds, verify_baseline, report = await _verify(sessions, servers.database_url, chain_entries)
    finally:
        await engine.dispose()
    server = (f"one uvicorn process of the benefits app (workers off), the load generator (batches: aiohttp; one by "
              f"one: bench/tickets_load.py's lean client) on the same cores; load average {load:.1f} at the start")
    # A goal is met only when measured at its own scale (a quick run reports, it does not pass).
    return [
        _posting_row("batched", posted["batched"], batch_plain, goal=5000, scale=(batched, 50_000), detail=(
            f"{batched:,} entries as POST /entries/batch of 1,000 over HTTP, {batch_callers} concurrent callers "
            f"(GRAMSETU_BENCH_BENEFITS_BATCH_CALLERS; each batch takes a free lane of the month's chain)"), baseline=(
            f"plain executemany INSERT of the same rows into an unindexed table, 1,000 rows per transaction, "
            f"{batch_callers} connections at once"), server=server),
        _posting_row("single", posted["single"], single_plain, goal=500, scale=(single, 2_000), detail=(
            f"{single:,} entries, one POST /entries per entry over HTTP (one transaction each), {callers} concurrent "
            f"callers (GRAMSETU_BENCH_BENEFITS_CALLERS) into one scheme and month (each call takes a free lane of "
            f"its chain)"), baseline=(
            f"one plain INSERT of one row per transaction into an unindexed table, {callers} connections at once"),
            server=server),
        make_row("benefits.coverage_area_seconds", value=cov_seconds, unit="s", baseline=cov_baseline,
                 goal="<= 5 s for 100,000 persons", met=cov_seconds <= 5 and area_persons >= 100_000,
                 detail=f"counts and the first 100 of the door-to-door list for one scheme over {counts['persons']:,} "
                        f"persons of one ward ({counts['eligible']:,} eligible, {counts['eligible_not_covered']:,} "
                        f"not covered), service functions in this process; baseline = plain count of the area's "
                        f"persons; N from GRAMSETU_BENCH_BENEFITS_AREA_PERSONS"),
        make_row("benefits.verify_seconds", value=verify_seconds, unit="s", baseline=verify_baseline,
                 goal="<= 60 s for 10,000,000 entries",
                 met=verify_seconds <= 60 and report.intact and chain_entries >= 10_000_000,
                 errors=0 if report.intact else 1,
                 detail=f"{report.entries:,} entries in {len(report.partitions):,} chains: every hash recomputed "
                        f"in SQL, every link, every signed head; intact={report.intact}; baseline = sequential "
                        f"scan of the same rows; M from GRAMSETU_BENCH_BENEFITS_CHAIN_ENTRIES"),
    ]


# ---------------------------------------------------------------- full-scale chains, fast
#
# Valid hash-chained ledger entries at full scale, fast, for ``benefits.verify_seconds``.
#
# Writing 10,000,000 entries through ``rules.chain.entry_hash`` and asyncpg's record encoder costs
# about 30 µs per row in Python (a dict per row, 26 fields encoded, 32 columns encoded again for COPY).
# Here most of an entry is the same for every row of a chain (scheme, department, area, period,
# amount, dates...), so its canonical content and its binary COPY tuple are prebuilt per chain as byte
# strings with gaps for what changes per row (id, seq, person, department reference, the two hashes):
# a row is a few ``bytes`` joins and one SHA-256.  Chains are built in worker processes and streamed to
# one binary ``COPY`` while the database ingests the previous chunk.  The first rows of every run are
# checked against ``rules.chain.entry_hash``, so a generator that drifted from the real encoding fails
# loudly instead of producing a "broken" ledger.

# The entry table's columns in COPY order (every column, so nothing is left to defaults).
COLUMNS = ("id", "partition", "seq", "prev_hash", "hash", "kind", "reverses_id", "flag_id", "scheme_code",
           "department_code", "rule_version", "beneficiary", "person_id", "household_id", "identifier_hash",
           "area_code", "period", "period_start", "period_end", "amount_minor", "currency", "quantity", "unit",
           "delivered_on", "channel", "recorded_by", "department_ref", "evidence_ref", "decision", "file_id",
           "file_row", "recorded_at")
VARYING = ("id", "seq", "prev_hash", "hash", "person_id", "department_ref")
TYPES = {**CONTENT_TYPES, "prev_hash": "bytea", "hash": "bytea", "period_start": "date", "period_end": "date",
         "file_id": "uuid", "file_row": "int4"}
_I2, _I4, _I8 = struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">q")
_PG_EPOCH_DAYS = date(2000, 1, 1).toordinal()
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + _I4.pack(0) + _I4.pack(0)
COPY_TRAILER = _I2.pack(-1)
ROWS_PER_CHUNK = 5_000


def _wire(kind: str, value: Any) -> bytes:
    """One field of a binary COPY tuple: length and PostgreSQL's binary form, or -1 for NULL."""
    if value is None:
        return _I4.pack(-1)
    if kind == "text":
        raw = str(value).encode()
    elif kind == "bytea":
        raw = bytes(value)
    elif kind == "uuid":
        raw = value.bytes
    elif kind == "int8":
        raw = _I8.pack(value)
    elif kind == "int4":
        raw = _I4.pack(value)
    elif kind == "date":
        raw = _I4.pack(value.toordinal() - _PG_EPOCH_DAYS)
    else:  # timestamptz: microseconds since 2000-01-01 UTC
        raw = _encode("timestamptz", value)[1:]
    return _I4.pack(len(raw)) + raw


def _template(fields: tuple[str, ...], row: dict[str, Any], encode: Any) -> list[bytes | str]:
    """``fields`` encoded with the constant runs joined and each varying field left as its name."""
    parts: list[bytes | str] = []
    for name in fields:
        if name in VARYING:
            parts.append(name)
        elif parts and isinstance(parts[-1], bytes):
            parts[-1] += encode(name, row[name])
        else:
            parts.append(encode(name, row[name]))
    return parts


def chain_bytes(job: tuple[str, str, int, int, dict[str, Any]]) -> tuple[str, int, bytes, list[bytes]]:
    """One chain: (partition, last seq, head hash, binary COPY chunks without header or trailer).
    ``job``: partition, department reference prefix, row count, the first id as an integer, and the
    constant fields."""
    partition, ref_prefix, count, first_id, fixed = job
    row = {**fixed, "partition": partition}
    content = _template(tuple(CONTENT_TYPES), row, lambda n, v: _encode(CONTENT_TYPES[n], v))
    tuple_ = _template(COLUMNS, row, lambda n, v: _wire(TYPES[n], v))
    tuple_[0:0] = [_I2.pack(len(COLUMNS))]
    present, i4, i8 = b"\x01", _I4.pack, _I8.pack
    sha256 = hashlib.sha256
    prev, chunks, out = GENESIS, [], []
    for seq in range(1, count + 1):
        rid = (first_id + seq).to_bytes(16, "big")
        person = seq.to_bytes(16, "big")
        ref = f"{ref_prefix}{seq}".encode()
        content_values = {"id": present + rid, "seq": present + i8(seq), "person_id": present + person,
                          "department_ref": i4(len(ref)) + ref}
        digest = sha256(prev + b"".join([p if isinstance(p, bytes) else content_values[p] for p in content])
                        ).digest()
        wire_values = {"id": b"\x00\x00\x00\x10" + rid, "seq": b"\x00\x00\x00\x08" + i8(seq),
                       "prev_hash": b"\x00\x00\x00\x20" + prev, "hash": b"\x00\x00\x00\x20" + digest,
                       "person_id": b"\x00\x00\x00\x10" + person, "department_ref": i4(len(ref)) + ref}
        out.append(b"".join([p if isinstance(p, bytes) else wire_values[p] for p in tuple_]))
        prev = digest
        if len(out) >= ROWS_PER_CHUNK:
            chunks.append(b"".join(out))
            out = []
    if out:
        chunks.append(b"".join(out))
    return partition, count, prev, chunks


def check_against_rules(job: tuple[str, str, int, int, dict[str, Any]]) -> None:
    """The generator's first hashes equal ``rules.chain.entry_hash`` over the same rows."""
    partition, ref_prefix, _, first_id, fixed = job
    prev = GENESIS
    for seq in range(1, 4):
        row = {**fixed, "partition": partition, "id": uuid.UUID(int=first_id + seq), "seq": seq,
               "person_id": uuid.UUID(int=seq), "department_ref": f"{ref_prefix}{seq}"}
        prev = entry_hash(prev, row)
    _, _, head, _ = chain_bytes((partition, ref_prefix, 3, first_id, fixed))
    if head != prev:
        raise AssertionError("bench/benefits_chains.py no longer encodes entries as rules/chain.py does")


async def write_chains(database_url: str, *, total: int, chains: int, prefix: str, fixed: dict[str, Any],
                       key: Any, key_id: str, now: datetime, workers: int = 2) -> int:
    """``total`` entries over ``chains`` chains named ``<prefix><n>:<period>``, each head signed; the
    entries go in by one binary COPY.  Returns the number of entries written."""
    per = max(total // chains, 1)
    base = uuid.uuid1().int & ~((1 << 64) - 1)  # ids: a random high half, the row number below
    jobs = [(f"{prefix}{p:05d}:{fixed['period']}", f"v-{p}-", per, base + p * per, fixed) for p in range(chains)]
    check_against_rules(jobs[0])
    heads: list[tuple[Any, ...]] = []
    loop = asyncio.get_running_loop()

    async def source() -> AsyncIterator[bytes]:
        yield COPY_HEADER
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = [loop.run_in_executor(pool, chain_bytes, job) for job in jobs[:workers * 2]]
            following: Iterator[Any] = iter(jobs[workers * 2:])
            while pending:
                partition, seq, head, chunks = await pending.pop(0)
                nxt = next(following, None)
                if nxt is not None:
                    pending.append(loop.run_in_executor(pool, chain_bytes, nxt))
                heads.append((partition, seq, head, key.sign(head_message(partition, seq, head)), key_id, now))
                for chunk in chunks:
                    yield chunk
        yield COPY_TRAILER

    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_to_table("entry", schema_name="benefits", source=source(), columns=list(COLUMNS),
                                 format="binary")
        await conn.copy_records_to_table("chain_head", schema_name="benefits", records=heads,
                                         columns=["partition", "seq", "hash", "signature", "key_id", "signed_at"])
    finally:
        await conn.close()
    return per * chains
