"""Notify figures: due lists for a million children, and sustained dispatch to the Twilio stand-in.

* ``notify.due_lists_seconds``: every anganwadi worker's due list for one day (``DUE_SQL`` of
  ``repository/duelists.py``: a range filter on the actionable-dose table joined to the contacts, on the
  shipped UIP schedule, written out as CSV with ``COPY``) over ``GRAMSETU_BENCH_NOTIFY_CHILDREN`` children
  (default 1,000,000, ages 0-6, about 2.6 doses given each).  The table is built once when the schedule is
  activated (timed and reported in the detail, not in the figure).  Baseline: ``COPY`` of the contact table
  itself to the same sink (reading each child once).
* ``notify.dispatch_rate``: messages per second the dispatcher hands to the stand-in through the real
  ``twilio`` SDK, with two dispatchers at once (replicas), one of them killed after the provider
  accepted a batch (reconciled from the provider's list afterwards), and every alert requested a
  second time while dispatch runs (redelivered events).  Its ``detail`` counts duplicates at the
  provider, which must be zero.  Baseline: the same number of sends straight through the SDK with
  the same concurrency and no bookkeeping.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from bench.common import ROOT, env_int, get_servers, make_row
from gramsetu.embedded import free_port, port_open

CHILDREN = env_int("GRAMSETU_BENCH_NOTIFY_CHILDREN", 1_000_000)
MESSAGES = env_int("GRAMSETU_BENCH_NOTIFY_MESSAGES", 6000)
VILLAGES = 1000
ACCOUNT_SID, AUTH_TOKEN = "AC" + "7" * 32, "bench-notify-token"
ON = date(2026, 12, 7)


def _configure_env(standin_url: str) -> None:
    os.environ.update({
        "GRAMSETU_NOTIFY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "GRAMSETU_NOTIFY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "GRAMSETU_NOTIFY_TWILIO_API_BASE": standin_url,
        "GRAMSETU_NOTIFY_SENDER_MESSAGES_PER_SECOND": "100000",
        "GRAMSETU_NOTIFY_ACCOUNT_MESSAGES_PER_SECOND": "100000",
    })
    from services.notify.settings import get_notify_settings

    get_notify_settings.cache_clear()


# ---------------------------------------------------------------- due lists


def _children(count: int, seed: int = 11) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    contacts, doses = [], []
    now = datetime.now(timezone.utc)
    for i in range(count):
        pid = uuid.UUID(int=rng.getrandbits(128))
        born = ON - timedelta(days=rng.randint(0, 6 * 365))
        area = f"IN-23-0456-2210-123456-{100000 + i % VILLAGES}"
        contacts.append((pid, area, f"Child {i}", "male", born, False, ["+9198" + f"{i:08d}"], "hi", "active", 1, now))
        age = (ON - born).days
        if age > 2:
            doses.append((pid, "bcg", born + timedelta(days=2), "bench", "bench"))
        for code in ("opv-1", "penta-1"):
            if age > 45 and rng.random() < 0.8:
                doses.append((pid, code, born + timedelta(days=45), "bench", "bench"))
    return contacts, doses


async def _load_population(database_url: str) -> int:
    contacts, doses = await asyncio.to_thread(_children, CHILDREN)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("TRUNCATE notify.contact, notify.dose_given, notify.actionable_dose")
        await conn.copy_records_to_table("contact", schema_name="notify", records=contacts, columns=(
            "person_id", "area_code", "full_name", "sex", "birth_date", "pregnant", "phones", "preferred_language",
            "status", "version", "updated_at"))
        await conn.copy_records_to_table("dose_given", schema_name="notify", records=doses, columns=(
            "person_id", "code", "given_on", "source", "recorded_by"))
        await conn.execute("ANALYZE notify.contact; ANALYZE notify.dose_given; CHECKPOINT")
    finally:
        await conn.close()
    return len(doses)


async def _publish_schedule(database_url: str) -> tuple[str, float]:
    """Publish the shipped schedule, activate it and build every child's actionable doses (timed: the
    one-off cost of activating a schedule version; registry events and doses keep the table current after)."""
    from kernel.db import make_engine, make_sessionmaker, transaction
    from services.notify.demo import schedule_document
    from services.notify.repository import duelists as repo
    from services.notify.service.duelists import publish_schedule

    version = str(schedule_document()["version"])
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await publish_schedule(session, schedule_document(), activate=False)
        started = time.perf_counter()
        async with transaction(make_sessionmaker(engine)) as session:
            await repo.activate(session, version)
            await repo.rebuild_actionable(session, version)
        build = time.perf_counter() - started
    finally:
        await engine.dispose()
    return version, build


class _Sink:
    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    async def __call__(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        self.lines += chunk.count(b"\n")


async def _copy_out(database_url: str, query: str, *args: Any) -> tuple[float, _Sink]:
    conn = await asyncpg.connect(database_url)
    try:
        sink = _Sink()
        started = time.perf_counter()
        await conn.copy_from_query(query, *args, output=sink, format="csv")
        return time.perf_counter() - started, sink
    finally:
        await conn.close()


async def due_lists(database_url: str) -> dict[str, Any]:
    from services.notify.repository.duelists import DUE_SQL

    doses = await _load_population(database_url)
    version, build = await _publish_schedule(database_url)
    # asyncpg's COPY takes positional parameters: the named ones of DUE_SQL become $1..$3.
    query = (f"SELECT area_code, person_id, full_name, code, vaccine, due_on, status FROM ({DUE_SQL}) x "
             "ORDER BY area_code, person_id, min_age_days, code")
    query = query.replace(":version", "$1").replace(":area_like", "$2").replace("CAST(:on AS date)", "$3::date")
    baseline, base_sink = await _copy_out(database_url, "SELECT * FROM notify.contact")
    seconds, sink = await _copy_out(database_url, query, version, "%", ON)
    return {"seconds": seconds, "rows": sink.lines, "bytes": sink.bytes, "baseline": baseline,
            "baseline_rows": base_sink.lines, "doses": doses, "build": build}


# ---------------------------------------------------------------- dispatch


def _start_standin(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "services.notify.twilio_standin", "--port", str(port)],
                            env=env, cwd=ROOT)
    deadline = time.monotonic() + 20
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Twilio stand-in did not start")
        time.sleep(0.05)
    return proc


async def _enqueue_all(sessionmaker: Any, keys: list[str], now: datetime) -> int:
    from kernel.db import transaction
    from services.notify.service.sending import Outgoing, enqueue

    created = 0

    async def chunk(part: list[str]) -> None:
        nonlocal created
        async with transaction(sessionmaker) as session:
            for k in part:
                _, new = await enqueue(session, Outgoing(
                    idempotency_key=k, template_key="bench_alert", source="bench", to=f"+9197{int(k[6:]):08d}",
                    area_code="IN-23-0456", language="en", urgent=True, variables={"ref": k}), now)
                created += int(new)

    size = max(len(keys) // 8, 1)
    await asyncio.gather(*(chunk(keys[i:i + size]) for i in range(0, len(keys), size)))
    return created


async def _bench_template(sessionmaker: Any) -> None:
    from kernel.auth import Identity
    from kernel.db import transaction
    from services.notify.repository import templates as repo
    from services.notify.schemas import TemplateCreate
    from services.notify.service.templates import create_template

    async with transaction(sessionmaker) as session:
        if await repo.current(session, "bench_alert", "en") is None:
            await create_template(session, Identity(subject="bench", kind="system", scopes=["*"]), TemplateCreate(
                key="bench_alert", language="en", body="GramSetu alert {ref}: training on Monday at the block office.",
                dlt_text="GramSetu alert {#var#}: training on Monday at the block office.",
                dlt_entity_id="1101234567890123456", dlt_template_id="1107170000000009999", dlt_header="GRMSTU"))


async def _raw_sdk_rate(standin_url: str, count: int, concurrency: int) -> float:
    from services.notify.providers.base import OutboundSms
    from services.notify.providers.twilio import TwilioProvider

    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base=standin_url, sms_from="+15005550006")
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await provider.send_sms(OutboundSms(to=f"+9196{i:08d}", body=f"baseline {i}", status_callback=None))

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    await provider.close()
    return count / elapsed


async def dispatch(database_url: str) -> dict[str, Any]:
    from kernel.db import make_engine, make_sessionmaker
    from services.notify.app import make_provider
    from services.notify.service.dispatch import Dispatcher
    from services.notify.settings import get_notify_settings

    port = free_port()
    standin_url = f"http://127.0.0.1:{port}"
    _configure_env(standin_url)
    proc = _start_standin(port)
    engine = make_engine(database_url, pool_size=12, max_overflow=4)
    sessionmaker = make_sessionmaker(engine)
    settings = get_notify_settings()
    try:
        async with httpx.AsyncClient(base_url=standin_url, timeout=60) as control:
            await control.post("/_standin/config", json={"callbacks": False})
            await _bench_template(sessionmaker)
            # A database kept from an earlier run (GRAMSETU_BENCH_DATABASE_URL) holds the same keys, which would
            # all be "already sent": start from no messages.
            async with sessionmaker() as session, session.begin():
                await session.execute(text("TRUNCATE notify.message, notify.message_event, notify.rate_bucket"))
            raw_rate = await _raw_sdk_rate(standin_url, min(MESSAGES, 3000), settings.dispatch_concurrency)
            await control.post("/_standin/reset")
            await control.post("/_standin/config", json={"callbacks": False})
            keys = [f"bench-{i:08d}" for i in range(MESSAGES)]
            now = datetime.now(timezone.utc)
            enqueue_started = time.perf_counter()
            created = await _enqueue_all(sessionmaker, keys, now)
            enqueue_seconds = time.perf_counter() - enqueue_started
            replicas = [Dispatcher(sessionmaker, make_provider(settings), settings) for _ in range(2)]
            crashed = asyncio.Event()

            async def crash_once(_: object) -> None:
                if not crashed.is_set():
                    crashed.set()
                    raise RuntimeError("replica killed after the provider accepted its batch")

            replicas[0].after_provider = crash_once

            async def drive(d: Dispatcher) -> None:
                idle = 0
                while idle < 3:
                    try:
                        handled = await d.dispatch_once()
                    except RuntimeError:
                        handled = 1  # the killed replica's batch stays "attempting"
                    idle = 0 if handled else idle + 1

            started = time.perf_counter()
            redelivered = asyncio.create_task(_enqueue_all(sessionmaker, keys, now))
            await asyncio.gather(*(drive(d) for d in replicas))
            reconciled = await replicas[1].reconcile_once(min_age_seconds=0)
            await asyncio.gather(*(drive(d) for d in replicas))
            elapsed = time.perf_counter() - started
            again = await redelivered
            records = (await control.get("/_standin/records", params={"kind": "message"})).json()["records"]
            for d in replicas:
                await d.provider.close()  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
        proc.terminate()
        proc.wait(10)
    bodies = Counter(r["body"] for r in records)
    return {"rate": len(records) / elapsed, "elapsed": elapsed, "sent": len(records), "created": created,
            "duplicates": sum(n - 1 for n in bodies.values() if n > 1), "unique": len(bodies),
            "redelivered_created": again, "reconciled": reconciled, "raw_rate": raw_rate,
            "enqueue_rate": created / enqueue_seconds}


async def run() -> list[dict[str, Any]]:
    servers = await get_servers()
    due = await due_lists(servers.database_url)
    sent = await dispatch(servers.database_url)
    missing = MESSAGES - sent["unique"]
    return [
        make_row("notify.due_lists_seconds", value=due["seconds"], unit="s", baseline=due["baseline"],
                 goal=f"<= 30 s for {CHILDREN:,} children", met=due["seconds"] <= 30.0,
                 detail=f"every worker's due list for {ON} across {VILLAGES} villages: {due['rows']:,} due/overdue "
                        f"doses written as CSV ({due['bytes'] / 1e6:.0f} MB) from {CHILDREN:,} children aged 0-6 "
                        f"with {due['doses']:,} doses recorded, schedule of 30 items, from the actionable-dose "
                        f"table (built once when the schedule was activated: {due['build']:.1f} s; kept current "
                        f"by registry events and doses after that); baseline = COPY of the "
                        f"{due['baseline_rows']:,}-row contact table to the same sink; N from "
                        f"GRAMSETU_BENCH_NOTIFY_CHILDREN"),
        make_row("notify.dispatch_rate", value=sent["rate"], unit="messages/s", baseline=sent["raw_rate"],
                 goal=">= 300 messages/s, zero duplicates under forced redelivery",
                 met=sent["rate"] >= 300 and sent["duplicates"] == 0 and missing == 0,
                 errors=sent["duplicates"] + missing,
                 detail=f"{sent['sent']:,} SMS accepted by the stand-in through the twilio SDK in "
                        f"{sent['elapsed']:.1f}s by two dispatchers, one killed after the provider accepted a batch "
                        f"(reconciled: {sent['reconciled']}); every alert requested again during dispatch "
                        f"({sent['redelivered_created']} new rows from that); duplicates at the provider "
                        f"{sent['duplicates']}, missing {missing}; enqueue {sent['enqueue_rate']:,.0f}/s (not "
                        f"timed in the figure); baseline = the same SDK sends with the same concurrency and no "
                        f"bookkeeping; N from GRAMSETU_BENCH_NOTIFY_MESSAGES"),
    ]
