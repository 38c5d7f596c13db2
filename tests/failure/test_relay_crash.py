"""Drill 2: the relay dies after JetStream acknowledged a batch but before it deleted the rows."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from kernel.relay import OutboxRelay
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
    wait_until,
    write_areas,
)

pytestmark = pytest.mark.timeout(60)


class RelayCrashed(Exception):
    pass


class RelayDyingAfterPubAcks(OutboxRelay):
    """The real relay, stopped between "every PubAck arrived" and "DELETE the published rows"."""

    def __init__(self, *, how: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.how = how
        self.acked: list[uuid.UUID] = []
        self.all_acked = asyncio.Event()

    async def _publish(self, rows: list[asyncpg.Record]) -> Any:
        result = await super()._publish(rows)
        self.acked = result.acked
        self.all_acked.set()
        if self.how == "error":
            raise RelayCrashed("process died before DELETE")
        await asyncio.Event().wait()  # "cancelled": hangs here until the task is cancelled (shutdown)
        return result


@pytest.mark.parametrize("how", ["error", "cancelled"])
async def test_republishing_after_a_crash_before_delete_is_deduplicated(stack: Stack, how: str) -> None:
    settings = stack.settings()
    url = stack.pg.url
    async with running(REGISTRY_SPEC, settings, workers=False) as producer:
        assert producer.sessionmaker and producer.pool and producer.js
        await write_areas(producer.sessionmaker, district_codes(40), WriteLog(), timeout=20)
        events = await committed_areas(url)

        dying = RelayDyingAfterPubAcks(how=how, service="registry", schema="registry", pool=producer.pool,
                                       js=producer.js, batch_size=500)
        batch = asyncio.create_task(dying.publish_batch())
        await asyncio.wait_for(dying.all_acked.wait(), timeout=10)
        if how == "cancelled":
            batch.cancel()
        with pytest.raises((RelayCrashed, asyncio.CancelledError)):
            await batch
        assert len(dying.acked) == events, "every event of the batch was acknowledged before the crash"
        assert await stream_count(stack.broker.url) == events
        assert await fetch_value(url, "SELECT count(*) FROM registry.outbox") == events, "rows survive the crash"

        duplicates_before = counter_value("gramsetu_events_publish_duplicates_total", service="registry")
        survivor = OutboxRelay(service="registry", schema="registry", pool=producer.pool, js=producer.js)
        assert await asyncio.wait_for(survivor.drain(), timeout=15) == events  # re-published, same ids

    duplicates = counter_value("gramsetu_events_publish_duplicates_total", service="registry") - duplicates_before
    assert duplicates == events, "JetStream flagged every re-publish as a duplicate (PubAck.duplicate)"
    assert await stream_count(stack.broker.url) == events, "the stream stored nothing twice"
    assert await fetch_value(url, "SELECT count(*) FROM registry.outbox") == 0

    probe = Probe()
    async with running(probe.consumer_spec(), settings):
        await wait_until(lambda: consumer_settled(stack.broker.url, PROBE_CONSUMER), timeout=20,
                         what="the probe to consume the stream")
    effects = await probe_effects(url)
    assert effects.rows == effects.distinct_events == events
