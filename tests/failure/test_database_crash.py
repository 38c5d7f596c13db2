"""Drill 4: PostgreSQL crashes (``pg_ctl stop -m immediate``) while areas are written, relayed and consumed."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from services.registry.app import SPEC as REGISTRY_SPEC
from tests.failure.backbone import (
    PROBE_CONSUMER,
    REPLICA_CONSUMER,
    Probe,
    Stack,
    WriteLog,
    committed_areas,
    consumer_settled,
    district_codes,
    fetch_value,
    jetstream,
    probe_effects,
    running,
    stream_count,
    stream_event_ids,
    wait_until,
    write_areas,
)

pytestmark = pytest.mark.timeout(90)


async def test_database_crash_mid_flow_loses_nothing_committed(stack: Stack) -> None:
    settings = stack.settings()
    url, broker = stack.pg.url, stack.broker.url
    probe = Probe()
    codes = district_codes(300)
    log = WriteLog()
    async with running(REGISTRY_SPEC, settings) as producer, running(probe.consumer_spec(), settings):
        assert producer.sessionmaker is not None
        writer = asyncio.create_task(write_areas(producer.sessionmaker, codes, log, timeout=45))
        await wait_until(lambda: _written(log, 100), timeout=20, what="a third of the writes")
        # Crash: no checkpoint, in-flight transactions and COMMITs cut off; WAL recovery on restart.
        await asyncio.to_thread(stack.crash_database)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(stack.restart_database)
        await asyncio.wait_for(writer, timeout=50)
        assert log.retries > 0, "the writer met the crash"
        assert log.committed == codes

        events = await committed_areas(url)
        await wait_until(lambda: _outbox_empty(url), timeout=30, what="the relay to drain the outbox")
        await wait_until(lambda: _applied(url, events), timeout=30, what="the probe to apply every event")
        for durable in (PROBE_CONSUMER, REPLICA_CONSUMER):
            await wait_until(partial(consumer_settled, broker, durable), timeout=20, what=f"{durable} to settle")

    present = await fetch_value(url, "SELECT count(*) FROM registry.area WHERE code = ANY($1::text[])", codes)
    assert present == len(codes), "every write the writer saw commit survived the crash"
    stored = await stream_event_ids(broker)
    assert not {event_id: n for event_id, n in stored.items() if n > 1}, "an event was stored twice"
    assert await stream_count(broker) == events
    effects = await probe_effects(url)
    assert effects.rows == effects.distinct_events == events
    assert await fetch_value(url, "SELECT count(*) FROM tickets.area") == events


async def _written(log: WriteLog, count: int) -> bool:
    return len(log.committed) >= count


async def _outbox_empty(url: str) -> bool:
    return await fetch_value(url, "SELECT count(*) FROM registry.outbox") == 0


async def _applied(url: str, events: int) -> bool:
    return (await probe_effects(url)).rows >= events


async def test_long_database_outage_does_not_exhaust_deliveries(stack: Stack) -> None:
    """An outage many times MaxDeliver x AckWait long: consumers stop fetching instead of burning attempts."""
    max_deliver, ack_wait = 3, 0.5
    settings = stack.settings(consumer_max_deliver=max_deliver, consumer_ack_wait_seconds=ack_wait)
    url = stack.pg.url
    probe = Probe()
    codes = district_codes(20)
    async with running(REGISTRY_SPEC, settings, workers=False) as producer:
        assert producer.sessionmaker is not None and producer.relay is not None
        await write_areas(producer.sessionmaker, codes, WriteLog(), timeout=20)
        await producer.relay.drain()
    events = await committed_areas(url)
    async with running(probe.consumer_spec(), settings, workers=False) as consumer_rt:
        await asyncio.to_thread(stack.crash_database)
        stop = asyncio.Event()
        loops = [asyncio.create_task(c.run(stop)) for c in consumer_rt.consumers]
        await asyncio.sleep(max_deliver * ack_wait * 4)  # the database stays down
        await asyncio.to_thread(stack.restart_database)
        try:
            await wait_until(lambda: _applied(url, events), timeout=30, what="every event after the outage")
        finally:
            stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
    async with jetstream(stack.broker.url) as js:
        advisories = await js.stream_info("DLQ_ADVISORIES")
        parked = await js.stream_info("DLQ")
    assert advisories.state.messages == 0, "no event ran out of deliveries during the outage"
    assert parked.state.messages == 0, "an outage is not the event's fault: nothing parked"
    effects = await probe_effects(url)
    assert effects.rows == effects.distinct_events == events
