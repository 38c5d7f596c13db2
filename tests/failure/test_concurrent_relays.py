"""Drill 6: two relay replicas drain one outbox while writers commit, one of them late."""

from __future__ import annotations

import asyncio

import pytest

from contracts.registry import AreaCreated
from kernel.db import transaction
from kernel.outbox import add_events
from kernel.relay import OutboxRelay
from kernel.runtime import Runtime
from services.registry.app import SPEC as REGISTRY_SPEC
from tests.failure.backbone import (
    AREA_SUBJECT,
    Stack,
    counter_value,
    fetch_value,
    running,
    stream_count,
    stream_event_ids,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)
TRANSACTIONS, PER_TRANSACTION = 40, 25
REPLICAS = ("registry-relay-a", "registry-relay-b")  # metric label per replica, to count who published what


def _event(n: int) -> AreaCreated:
    return AreaCreated(code=f"IN-02-{n:04d}", parent_code="IN-02", level="district", name=f"D{n}", version=1)


async def _write(runtime: Runtime, first: int, count: int) -> None:
    assert runtime.sessionmaker is not None
    async with transaction(runtime.sessionmaker) as session:
        await add_events(session, "registry", [_event(first + i) for i in range(count)], source="registry")


def _relay(replica: str, runtime: Runtime) -> OutboxRelay:
    """One replica's relay: small batches and two workers, so the replicas contend for rows."""
    assert runtime.pool is not None and runtime.js is not None
    return OutboxRelay(service=replica, schema="registry", pool=runtime.pool, js=runtime.js, batch_size=20,
                       poll_interval=0.05, publish_timeout=2.0, concurrency=2)


def _published(replica: str) -> float:
    return counter_value("gramsetu_events_published_total", service=replica, subject=AREA_SUBJECT)


def _deduplicated(replica: str) -> float:
    return counter_value("gramsetu_events_publish_duplicates_total", service=replica)


async def test_two_relays_publish_every_event_exactly_once(stack: Stack) -> None:
    settings = stack.settings()
    url, broker = stack.pg.url, stack.broker.url
    total = TRANSACTIONS * PER_TRANSACTION + 1  # + the straggler
    published_before = {r: _published(r) for r in REPLICAS}
    duplicates_before = {r: _deduplicated(r) for r in REPLICAS}
    stop = asyncio.Event()
    async with running(REGISTRY_SPEC, settings, workers=False) as a, \
            running(REGISTRY_SPEC, settings, workers=False) as b:
        relays = [_relay(name, rt) for name, rt in zip(REPLICAS, (a, b), strict=True)]
        tasks = [asyncio.create_task(relay.run(stop)) for relay in relays]
        try:
            # A straggler transaction takes the lowest seq and commits after everything else was
            # published: a relay keeping a "last seq seen" cursor would skip it forever.
            assert a.sessionmaker is not None
            async with transaction(a.sessionmaker) as straggler:
                await add_events(straggler, "registry", [_event(9999)], source="registry")
                writers = [_write((a, b)[i % 2], i * PER_TRANSACTION, PER_TRANSACTION) for i in range(TRANSACTIONS)]
                await asyncio.gather(*writers)
                await wait_until(lambda: _stored(broker, total - 1), timeout=20, what="the committed events")
            await wait_until(lambda: _outbox_empty(url), timeout=20, what="the straggler to be published")
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    published = {r: _published(r) - published_before[r] for r in REPLICAS}
    assert sum(published.values()) == total, f"each event published by exactly one relay: {published}"
    assert all(n > 0 for n in published.values()), f"both relays took part: {published}"
    assert all(_deduplicated(r) == duplicates_before[r] for r in REPLICAS), "no PubAck.duplicate was needed"
    assert await stream_count(broker) == total
    assert len(await stream_event_ids(broker)) == total


async def _stored(broker: str, count: int) -> bool:
    return await stream_count(broker) >= count


async def _outbox_empty(url: str) -> bool:
    return await fetch_value(url, "SELECT count(*) FROM registry.outbox") == 0
