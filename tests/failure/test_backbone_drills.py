"""Drills for the hardened backbone (issue 11), each against its own PostgreSQL and nats-server.

Every drill prints its tally (accepted writes, events published, effects applied, parked) and
asserts exactly-once effects: the probe's effect table has no unique key, so only the inbox
stands between a repeat and a second row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from contracts.registry import AreaCreated
from kernel.db import make_engine, make_sessionmaker, transaction
from kernel.dlq import dlq_size
from kernel.outbox import batch_line, copy_event_batches, envelope_for, list_quarantined
from kernel.relay import OutboxRelay, PublishIncomplete
from kernel.scheduler import schedule
from services.registry.app import SPEC as REGISTRY_SPEC
from tests.failure.backbone import (
    AREA_SUBJECT,
    PROBE_CONSUMER,
    Probe,
    Stack,
    WriteLog,
    committed_areas,
    consumer_settled,
    counter_value,
    district_codes,
    fetch_value,
    jetstream,
    probe_effects,
    process,
    running,
    stream_count,
    stream_event_ids,
    wait_until,
    write_areas,
)

pytestmark = pytest.mark.timeout(120)


def tally(name: str, **figures: Any) -> None:
    print(f"\n[{name}] " + ", ".join(f"{k} {v}" for k, v in figures.items()))


async def _outbox(url: str) -> int:
    return int(await fetch_value(url, "SELECT count(*) FROM registry.outbox"))


async def _probe_settled(stack: Stack, probe: Probe, expected: int) -> None:
    url = stack.pg.url
    await wait_until(lambda: _applied(url, expected), timeout=30, what="the probe to apply every event")
    await wait_until(lambda: consumer_settled(stack.broker.url, PROBE_CONSUMER), timeout=20, what="probe settled")


async def _applied(url: str, expected: int) -> bool:
    return (await probe_effects(url)).distinct_events >= expected


async def test_relay_backoff_is_capped_so_events_flow_soon_after_an_outage(stack: Stack, caplog) -> None:
    """Issue 10: with PostgreSQL down the relay's retries never wait longer than the cap (2 s by
    default, 0.5 s here), so once it is back the outbox drains within seconds, by itself."""
    settings = stack.settings(relay_max_backoff_seconds=0.5)
    url = stack.pg.url
    probe = Probe()
    caplog.set_level(logging.WARNING, logger="gramsetu.relay")
    async with running(REGISTRY_SPEC, settings) as producer, running(probe.consumer_spec(), settings):
        assert producer.sessionmaker is not None
        await write_areas(producer.sessionmaker, district_codes(20), WriteLog(), timeout=20)
        await asyncio.to_thread(stack.crash_database)
        await asyncio.sleep(4)  # long enough for an uncapped doubling backoff to reach several seconds
        await asyncio.to_thread(stack.restart_database)
        log = WriteLog()
        await write_areas(producer.sessionmaker, district_codes(20, state="IN-02"), log, timeout=30)
        expected = await committed_areas(url)
        # The cap is asserted on the relay's own waits below; this only bounds a loaded machine's drain.
        await wait_until(lambda: _drained(url), timeout=30, what="the outbox to drain after the restart")
        await _probe_settled(stack, probe, expected)
    waits = [float(r.getMessage().rsplit("retrying in ", 1)[1].rstrip("s")) for r in caplog.records
             if "retrying in" in r.getMessage()]
    effects = await probe_effects(url)
    tally("pg outage", accepted=expected, published=await stream_count(stack.broker.url),
          applied=effects.rows, parked=0, relay_retries=len(waits), longest_wait=max(waits, default=0))
    assert waits and max(waits) <= 0.5
    assert effects.rows == effects.distinct_events == expected


async def _drained(url: str) -> bool:
    return await _outbox(url) == 0


async def test_a_paused_relay_holding_its_rows_is_taken_over(stack: Stack) -> None:
    """A relay that claimed rows and then stopped (SIGSTOP, a frozen VM: its session sits idle in a
    transaction holding the row locks): the other replica skips the locked rows, PostgreSQL ends
    the silent session after idle_in_transaction_session_timeout, and the other replica publishes
    them.  The paused relay never published, so nothing is duplicated."""
    settings = stack.settings(db_idle_in_transaction_timeout_seconds=1.0)
    url = stack.pg.url
    probe = Probe()
    async with running(REGISTRY_SPEC, settings, workers=False) as producer:
        assert producer.sessionmaker is not None and producer.pool is not None and producer.js is not None
        await write_areas(producer.sessionmaker, district_codes(30), WriteLog(), timeout=20)
        expected = await committed_areas(url)
        paused = await producer.pool.acquire()
        tx = paused.transaction()
        await tx.start()
        held = await paused.fetch("SELECT id FROM registry.outbox ORDER BY seq LIMIT 10 FOR UPDATE")
        other = OutboxRelay(service="registry", schema="registry", pool=producer.pool, js=producer.js)
        published_around = await other.drain()  # skips the 10 locked rows
        assert published_around == expected - len(held) and await _outbox(url) == len(held)
        await asyncio.sleep(1.5)  # the paused session is ended by the server
        assert await other.drain() == len(held)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
            await paused.execute("SELECT 1")  # "SIGCONT": its session is gone, its claim with it
        await producer.pool.release(paused)
    async with running(probe.consumer_spec(), settings):
        await _probe_settled(stack, probe, expected)
    effects = await probe_effects(url)
    stored = await stream_event_ids(stack.broker.url)
    tally("paused relay", accepted=expected, published=sum(stored.values()), applied=effects.rows, parked=0)
    assert max(stored.values()) == 1 and sum(stored.values()) == expected
    assert effects.rows == effects.distinct_events == expected


class _AckedThenCrashed(OutboxRelay):
    """Publishes and gets every PubAck, then the step before the DELETE fails (a crash there)."""

    def __init__(self, *, before_delete: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.before_delete = before_delete

    async def _publish(self, rows: list[asyncpg.Record]) -> Any:
        result = await super()._publish(rows)
        assert not result.failed
        await self.before_delete()
        return result


@pytest.mark.slow
async def test_postgres_restarted_between_the_pub_ack_and_the_delete(stack: Stack) -> None:
    settings = stack.settings()
    url = stack.pg.url
    probe = Probe()
    async with running(REGISTRY_SPEC, settings, workers=False) as producer:
        assert producer.sessionmaker is not None and producer.pool is not None and producer.js is not None
        await write_areas(producer.sessionmaker, district_codes(25), WriteLog(), timeout=20)
        expected = await committed_areas(url)

        async def restart_postgres() -> None:
            await asyncio.to_thread(stack.crash_database)
            await asyncio.to_thread(stack.restart_database)

        dying = _AckedThenCrashed(before_delete=restart_postgres, service="registry", schema="registry",
                                  pool=producer.pool, js=producer.js)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ConnectionError)):
            await dying.publish_batch()
        assert await stream_count(stack.broker.url) == expected  # all stored ...
        await wait_until(lambda: _outbox_is(url, expected), timeout=20, what="the rows back after the restart")
        duplicates = counter_value("gramsetu_events_publish_duplicates_total", service="registry")
        survivor = OutboxRelay(service="registry", schema="registry", pool=producer.pool, js=producer.js)
        await wait_until(lambda: _drains(survivor), timeout=20, what="the survivor relay to drain")
        repeats = counter_value("gramsetu_events_publish_duplicates_total", service="registry") - duplicates
    async with running(probe.consumer_spec(), settings):
        await _probe_settled(stack, probe, expected)
    effects = await probe_effects(url)
    tally("pg restart before delete", accepted=expected, published=await stream_count(stack.broker.url),
          dropped_as_duplicates=int(repeats), applied=effects.rows, parked=0)
    assert repeats == expected and await stream_count(stack.broker.url) == expected
    assert effects.rows == effects.distinct_events == expected


async def _outbox_is(url: str, n: int) -> bool:
    try:
        return await _outbox(url) == n
    except (OSError, asyncpg.PostgresError):
        return False


async def _drains(relay: OutboxRelay) -> bool:
    try:
        await relay.drain()
        return True
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, PublishIncomplete):
        return False


@pytest.mark.slow
async def test_an_outage_longer_than_the_duplicate_window_is_absorbed_by_the_inbox(stack: Stack) -> None:
    """The relay published (PubAcks lost to a crash before the delete) and the outage outlasted a
    shortened duplicate window: the re-publish is stored a second time, and the inbox applies once."""
    settings = stack.settings(stream_duplicate_window_seconds=2)
    url = stack.pg.url
    probe = Probe()
    async with running(REGISTRY_SPEC, settings, workers=False) as producer:
        assert producer.sessionmaker is not None and producer.pool is not None and producer.js is not None
        await write_areas(producer.sessionmaker, district_codes(15), WriteLog(), timeout=20)
        expected = await committed_areas(url)

        async def crash() -> None:
            raise ConnectionError("relay process died before DELETE")

        dying = _AckedThenCrashed(before_delete=crash, service="registry", schema="registry",
                                  pool=producer.pool, js=producer.js)
        with pytest.raises(ConnectionError):
            await dying.publish_batch()
        await asyncio.sleep(3)  # the outage outlasts the 2 s window
        survivor = OutboxRelay(service="registry", schema="registry", pool=producer.pool, js=producer.js)
        assert await survivor.drain() == expected
    async with running(probe.consumer_spec(), settings):
        await wait_until(lambda: consumer_settled(stack.broker.url, PROBE_CONSUMER), timeout=30, what="settled")
    stored = await stream_event_ids(stack.broker.url)
    duplicate_skips = counter_value("gramsetu_events_consumed_total", service="tickets", consumer=PROBE_CONSUMER,
                                    outcome="duplicate")
    effects = await probe_effects(url)
    tally("outage past the duplicate window", accepted=expected, stored=sum(stored.values()),
          stored_twice=sum(1 for n in stored.values() if n > 1), inbox_duplicates=int(duplicate_skips),
          applied=effects.rows, parked=0)
    assert sum(1 for n in stored.values() if n > 1) == expected  # past the window: stored twice
    assert effects.rows == effects.distinct_events == expected  # ... applied once


async def test_jetstream_out_of_space_keeps_the_rows_then_flows(stack: Stack) -> None:
    """A stream at its byte limit (discard new) refuses publishes with the reason; the outbox keeps
    the rows without counting attempts against them; once the limit is raised everything flows."""
    tiny = stack.settings(stream_max_bytes={"registry": 4096})
    url = stack.pg.url
    probe = Probe()
    async with running(REGISTRY_SPEC, tiny) as producer:
        assert producer.sessionmaker is not None and producer.js is not None
        await write_areas(producer.sessionmaker, district_codes(30), WriteLog(), timeout=20)
        expected = await committed_areas(url)
        await wait_until(lambda: _refused(), timeout=20, what="a storage_full refusal")
        stuck = await _outbox(url)
        attempts = await fetch_value(url, "SELECT coalesce(max(attempts), 0) FROM registry.outbox")
    async with running(REGISTRY_SPEC, stack.settings()):  # limit raised (ensure_streams updates it)
        await wait_until(lambda: _drained(url), timeout=20, what="the outbox to drain once there is space")
    async with running(probe.consumer_spec(), stack.settings()):
        await _probe_settled(stack, probe, expected)
    effects = await probe_effects(url)
    tally("stream full", accepted=expected, held_in_outbox=stuck, published=await stream_count(stack.broker.url),
          applied=effects.rows, parked=0)
    assert stuck > 0 and attempts == 0
    assert await stream_count(stack.broker.url) == expected
    assert effects.rows == effects.distinct_events == expected


async def _refused() -> bool:
    return counter_value("gramsetu_event_publish_errors_total", service="registry", reason="storage_full") > 0


@pytest.mark.slow
async def test_scheduler_worker_killed_during_an_external_call(stack: Stack, tmp_path: Path) -> None:
    """Scheduler worker processes (tests/failure/scheduler_worker.py) run callback jobs through
    kernel.effects and are SIGKILLed twice: once while the receiver holds a POST it got (sent, no
    outcome stored), once after an outcome was stored but before the job's transaction committed.
    The jobs are taken over after their leases expire.  The receiver sees each key once, except the
    one whose outcome the kill lost: that repeat carries the same Idempotency-Key, so it is applied once."""
    url = stack.pg.url
    calls: Counter[str] = Counter()
    applied: dict[str, int] = {}
    held = asyncio.Event()
    release = asyncio.Event()
    keys = [f"cb:{n}" for n in range(5)]
    held_key, lingering_key = keys[2], keys[3]

    async def receive(request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        calls[key] += 1
        applied.setdefault(key, len(applied) + 1)  # a receiver that honours the key: one effect per key
        if key == held_key and calls[key] == 1:
            held.set()
            await release.wait()  # the sender dies while waiting for this answer
        return web.json_response({"receipt": applied[key]})

    app = web.Application()
    app.router.add_post("/callback", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver = f"http://127.0.0.1:{port}/callback"
    engine = make_engine(url, pool_size=2)
    first_due = datetime.now(timezone.utc) - timedelta(seconds=10)
    async with transaction(make_sessionmaker(engine)) as session:
        for n, key in enumerate(keys):
            await schedule(session, "registry", kind="drill.callback", key=key,
                           due_at=first_due + timedelta(seconds=n), payload={"linger": key == lingering_key})

    def worker(name: str, lease: float) -> Any:
        args = [sys.executable, "-m", "tests.failure.scheduler_worker", url, receiver, str(lease)]
        return process(args, {}, tmp_path / f"{name}.log")

    def printed(name: str, line: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return line in (tmp_path / f"{name}.log").read_text().splitlines()
        return check

    async def effect(key: str) -> tuple[str, int]:
        row = await fetch_value(url, "SELECT status || ':' || attempts FROM registry.external_effect WHERE key = $1",
                                key)
        status, attempts = row.split(":")
        return status, int(attempts)

    async def jobs_left() -> int:
        return int(await fetch_value(url, "SELECT count(*) FROM registry.scheduled_job WHERE kind = 'drill.callback'"))

    async def all_done() -> bool:
        return await jobs_left() == 0

    try:
        with worker("a", 2.0) as a:  # claims all five jobs (2 s lease), sends cb:0, cb:1, then cb:2 is held
            await asyncio.wait_for(held.wait(), timeout=60)
            a.kill()  # SIGKILL: the POST reached the receiver, its outcome was never stored
            a.wait()
        release.set()
        after_first_kill = await effect(held_key), await jobs_left()
        with worker("b", 2.0) as b:  # takes over after the lease; resends cb:2, sends cb:3 and lingers
            await wait_until(printed("b", f"recorded {lingering_key}"), timeout=60, what="worker b to record cb:3")
            b.kill()  # SIGKILL: cb:3's outcome is stored, its job's transaction never committed
            b.wait()
        after_second_kill = await effect(lingering_key), await jobs_left()
        with worker("c", 30.0):  # takes over cb:3 (already sent: not POSTed again) and cb:4
            await wait_until(all_done, timeout=60, what="every job done")
        effects = {key: await effect(key) for key in keys}
    finally:
        release.set()
        await runner.cleanup()
        await engine.dispose()
    tally("scheduler worker SIGKILLed mid-call", jobs=len(keys), kills=2, calls=sum(calls.values()),
          keys_seen=len(calls), applied=len(applied), repeated_keys=[k for k, n in calls.items() if n > 1], parked=0)
    assert after_first_kill == (("attempted", 1), 3)  # cb:0 and cb:1 committed; cb:2 sent but unrecorded
    assert after_second_kill == (("sent", 1), 2)  # cb:3 recorded, its job not committed
    assert effects == {key: ("sent", 2 if key == held_key else 1) for key in keys}
    assert calls == {**{key: 1 for key in keys}, held_key: 2}  # once per key, but the unrecorded one ...
    assert len(applied) == len(keys)  # ... whose repeat carries its key: applied once


async def test_nats_down_past_the_relays_retries_with_the_reconnect_buffer_full(stack: Stack) -> None:
    """NATS is down for longer than the relay's retry backoff, and the client's reconnect buffer is
    filled to its limit; the relay claims nothing while disconnected, recovers by itself once NATS
    is back, every pending publish slot is returned, and the outbox drains: each event applied once."""
    import nats.errors

    settings = stack.settings()
    url = stack.pg.url
    probe = Probe()
    async with running(REGISTRY_SPEC, settings) as producer, running(probe.consumer_spec(), settings):
        assert producer.sessionmaker is not None and producer.js is not None and producer.nc is not None
        await write_areas(producer.sessionmaker, district_codes(20), WriteLog(), timeout=20)
        await asyncio.to_thread(stack.broker.kill)
        await wait_until(lambda: _disconnected(producer), timeout=10, what="the client to notice")
        filled = 0
        with pytest.raises(nats.errors.OutboundBufferLimitError):
            for _ in range(100_000):  # the reconnect buffer (2 MiB by default) fills up
                await producer.nc.publish("drill.fill", b"x" * 4096)  # no stream holds it
                filled += 1
        log = WriteLog()
        await write_areas(producer.sessionmaker, district_codes(20, state="IN-03"), log, timeout=20)
        await asyncio.sleep(3)  # longer than the relay's retry backoff (0.5 s in drills)
        waiting = await _outbox(url)
        await asyncio.to_thread(stack.restart_broker)
        expected = await committed_areas(url)
        await wait_until(lambda: _drained(url), timeout=30, what="the outbox to drain after NATS came back")
        await _probe_settled(stack, probe, expected)
        pending = producer.js.publish_async_pending()
    effects = await probe_effects(url)
    tally("nats down, buffer full", accepted=expected, buffered_kib=filled * 4, waited_in_outbox=waiting,
          published=await stream_count(stack.broker.url), applied=effects.rows, parked=0, pending_slots=pending)
    assert waiting > 0 and pending == 0
    assert await stream_count(stack.broker.url) == expected
    assert effects.rows == effects.distinct_events == expected


async def _disconnected(runtime: Any) -> bool:
    return not runtime.nc.is_connected


async def test_an_oversized_event_and_a_corrupt_batch_row_are_quarantined_while_the_rows_behind_them_flow(
    stack: Stack,
) -> None:
    """The first row of the interactive lane is too large for NATS and the first row of the bulk lane
    is a batch with a corrupt line; real writes (registry areas, and an import batch) queue behind
    them.  The relay quarantines each poison row after ``relay_max_attempts`` failures of its own,
    publishes everything behind them, and the probe applies every good event once."""
    settings = stack.settings(relay_max_attempts=3)
    url = stack.pg.url
    probe = Probe()
    quarantined_before = counter_value("gramsetu_outbox_quarantined_total", service="registry")
    async with running(REGISTRY_SPEC, settings, workers=False) as producer:
        assert producer.sessionmaker is not None and producer.pool is not None
        oversized, corrupt = uuid.uuid4(), uuid.uuid4()
        await producer.pool.execute(
            "INSERT INTO registry.outbox (id, subject, payload) VALUES ($1, $2, $3::jsonb)",
            oversized, AREA_SUBJECT, json.dumps({"blob": "x" * (2 * 1024 * 1024)}))  # NATS takes 1 MiB
        await producer.pool.execute(
            "INSERT INTO registry.outbox (id, subject, batch, events) VALUES ($1, $2, $3, 2)",
            corrupt, AREA_SUBJECT, "not-a-uuid\tregistry.area.created.v1\t{}\ngarbage-without-tabs")
        await write_areas(producer.sessionmaker, district_codes(20), WriteLog(), timeout=20)
        imported = [envelope_for(AreaCreated(code=f"IN-09-{n:04d}", parent_code="IN-09", level="district",
                                             name=f"Imported {n}", version=1), source="registry")
                    for n in range(40)]
        async with producer.pool.acquire() as conn, conn.transaction():
            await copy_event_batches(conn, "registry", [[batch_line(str(e.id), e.type, e.model_dump_json())
                                                          for e in imported]])
    expected = await committed_areas(url) + len(imported)
    async with running(REGISTRY_SPEC, settings), running(probe.consumer_spec(), settings):
        await wait_until(lambda: _drained(url), timeout=30, what="the outbox to drain past the poison rows")
        await _probe_settled(stack, probe, expected)
    conn = await asyncpg.connect(url)
    try:
        quarantined = {row["id"]: row for row in await list_quarantined(conn, "registry")}
    finally:
        await conn.close()
    stored = await stream_event_ids(stack.broker.url) + await stream_event_ids(stack.broker.url, "REGISTRY_BULK")
    effects = await probe_effects(url)
    async with jetstream(stack.broker.url) as js:
        parked = await dlq_size(js)
    newly_quarantined = counter_value("gramsetu_outbox_quarantined_total", service="registry") - quarantined_before
    tally("oversized + corrupt rows", accepted=expected, published=sum(stored.values()), applied=effects.rows,
          quarantined=len(quarantined), parked=parked)
    assert set(quarantined) == {oversized, corrupt} and newly_quarantined == 2
    assert quarantined[oversized]["attempts"] == 3 and "too_large" in quarantined[oversized]["last_error"]
    assert "corrupt" in quarantined[corrupt]["last_error"]
    assert sum(stored.values()) == expected and max(stored.values()) == 1  # everything behind them, once
    assert effects.rows == effects.distinct_events == expected and parked == 0
