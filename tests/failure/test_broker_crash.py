"""Drill 1: nats-server is SIGKILLed while areas are being written and relayed, then restarted."""

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

pytestmark = pytest.mark.timeout(90)


async def test_broker_crash_mid_flow_delivers_every_committed_event_once(stack: Stack) -> None:
    settings = stack.settings()
    probe = Probe()
    codes = district_codes(300)
    log = WriteLog()
    failures_before = counter_value("gramsetu_event_publish_failures_total", service="registry")
    async with running(REGISTRY_SPEC, settings) as producer, running(probe.consumer_spec(), settings):
        assert producer.sessionmaker is not None
        writer = asyncio.create_task(write_areas(producer.sessionmaker, codes, log, timeout=40))
        await wait_until(lambda: _written(log, 100), timeout=20, what="a third of the writes")
        # Crash the broker while the relay is publishing and the consumers are fetching.
        await asyncio.to_thread(stack.broker.kill)
        await asyncio.sleep(1.5)  # writes go on: they only need PostgreSQL
        waiting = await fetch_value(stack.pg.url, "SELECT count(*) FROM registry.outbox")
        await asyncio.to_thread(stack.restart_broker)
        await asyncio.wait_for(writer, timeout=45)

        assert log.committed == codes
        url = stack.pg.url
        # One area.created event per committed area row (the writer's areas and their implicit country).
        expected = await committed_areas(url)
        await wait_until(
            lambda: _outbox_empty(url), timeout=30, what="the relay to drain the outbox after the restart"
        )
        await wait_until(
            lambda: _all_applied(url, expected), timeout=30, what="the probe to apply every committed event"
        )
        for durable in (PROBE_CONSUMER, REPLICA_CONSUMER):
            await wait_until(
                partial(consumer_settled, stack.broker.url, durable), timeout=20, what=f"{durable} to settle"
            )

    stored = await stream_event_ids(stack.broker.url)
    duplicated = {event_id: n for event_id, n in stored.items() if n > 1}
    assert not duplicated, f"events stored more than once: {duplicated}"
    assert await stream_count(stack.broker.url) == expected
    # The crash really hit the relay mid-flow: events committed during the outage waited in the
    # outbox (the relay claims nothing while disconnected, or its batches failed and were retried).
    failures = counter_value("gramsetu_event_publish_failures_total", service="registry") - failures_before
    assert waiting > 0
    effects = await probe_effects(url)
    print(f"\ntally: accepted {len(log.committed)}, events {expected}, waited in outbox {waiting}, "
          f"failed batches {failures:.0f}, applied {effects.rows}, parked 0")
    assert effects.rows == effects.distinct_events == expected
    assert set(log.committed) <= set(effects.per_code)
    replicated = await fetch_value(url, "SELECT count(*) FROM tickets.area")
    assert replicated == expected


async def _written(log: WriteLog, count: int) -> bool:
    return len(log.committed) >= count


async def _outbox_empty(url: str) -> bool:
    return await fetch_value(url, "SELECT count(*) FROM registry.outbox") == 0


async def _all_applied(url: str, expected: int) -> bool:
    return (await probe_effects(url)).rows >= expected

