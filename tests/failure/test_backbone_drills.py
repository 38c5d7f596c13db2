"""Drills for the hardened backbone (issue 11), each against its own PostgreSQL and nats-server.

Every drill prints its tally (accepted writes, events published, effects applied, parked) and
asserts exactly-once effects: the probe's effect table has no unique key, so only the inbox
stands between a repeat and a second row.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from kernel.db import transaction
from kernel.effects import perform_effect
from kernel.relay import OutboxRelay, PublishIncomplete
from kernel.scheduler import Scheduler, schedule
from services.registry.app import SPEC as REGISTRY_SPEC
from tests.failure.backbone import (
    PROBE_CONSUMER,
    Probe,
    Stack,
    WriteLog,
    committed_areas,
    consumer_settled,
    counter_value,
    district_codes,
    fetch_value,
    probe_effects,
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


async def test_scheduler_worker_killed_during_an_external_call(stack: Stack) -> None:
    """A job sends a callback through kernel.effects; the worker dies after the receiver got it and
    before the outcome was stored.  Another worker takes the job over once the lease expires and
    sends again with the same idempotency key: the receiver applies it once per key."""
    settings = stack.settings()
    calls: Counter[str] = Counter()
    applied: set[str] = set()

    async def receive(request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        calls[key] += 1
        applied.add(key)  # a receiver that honours the key: one effect per key
        return web.json_response({"receipt": key})

    app = web.Application()
    app.router.add_post("/callback", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    keys = [f"cb:{n}" for n in range(5)]
    crash_on = keys[2]

    async with running(REGISTRY_SPEC, settings, workers=False) as rt:
        assert rt.sessionmaker is not None
        import aiohttp

        async def send_callback(session, job):
            async def send(attempt):
                async with aiohttp.ClientSession() as http, http.post(
                        f"http://127.0.0.1:{port}/callback", headers={"Idempotency-Key": attempt.key}) as reply:
                    body = await reply.json()
                if attempt.key == crash_on and not attempt.uncertain:
                    raise asyncio.CancelledError  # the worker dies here: sent, outcome not stored
                return body

            await perform_effect(session, "registry", kind="callback", key=job.key, send=send)

        async with transaction(rt.sessionmaker) as session:
            for key in keys:
                await schedule(session, "registry", kind="drill.callback", key=key, due_at=_past())
        dying = Scheduler(service="registry", schema="registry", sessionmaker=rt.sessionmaker,
                          handlers={"drill.callback": send_callback}, lease_seconds=1.0, batch_size=10)
        with pytest.raises(asyncio.CancelledError):
            await dying.run_due()
        taker = Scheduler(service="registry", schema="registry", sessionmaker=rt.sessionmaker,
                          handlers={"drill.callback": send_callback}, lease_seconds=30, batch_size=10)
        await asyncio.sleep(1.2)  # the dead worker's lease expires
        await taker.run_due()
        left = await fetch_value(stack.pg.url, "SELECT count(*) FROM registry.scheduled_job")
        statuses = await fetch_value(stack.pg.url, "SELECT string_agg(DISTINCT status, ',') FROM registry.external_effect")
    await runner.cleanup()
    tally("scheduler killed mid-call", jobs=len(keys), calls=sum(calls.values()), keys_seen=len(calls),
          applied=len(applied), repeated_keys=[k for k, n in calls.items() if n > 1], parked=0)
    assert left == 0 and statuses == "sent"
    assert set(calls) == set(keys) and applied == set(keys)
    assert all(n == 1 for k, n in calls.items() if k != crash_on) and calls[crash_on] == 2  # told apart by key


def _past():
    from datetime import datetime, timedelta, timezone

    return datetime.now(timezone.utc) - timedelta(seconds=1)


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
