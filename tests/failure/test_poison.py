"""Drill 5: an event the handler can never apply is parked in the DLQ and replayed once fixed."""

from __future__ import annotations

import pytest

from kernel.dlq import dlq_size, list_parked, replay
from services.registry.app import SPEC as REGISTRY_SPEC
from tests.failure.backbone import (
    AREA_SUBJECT,
    PROBE_CONSUMER,
    REPLICA_CONSUMER,
    Probe,
    Stack,
    WriteLog,
    committed_areas,
    consumer_settled,
    district_codes,
    jetstream,
    new_msg_id,
    probe_effects,
    running,
    wait_until,
    write_areas,
)

pytestmark = pytest.mark.timeout(60)
MAX_DELIVER = 3


async def test_poison_event_is_dead_lettered_without_blocking_and_replays_once(stack: Stack) -> None:
    # NAK delays of 1 s: parking the poison takes >= 2 s, long after the later events are applied.
    settings = stack.settings(consumer_max_deliver=MAX_DELIVER, consumer_backoff_seconds=[1.0, 1.0, 1.0])
    url, broker = stack.pg.url, stack.broker.url
    codes = district_codes(5)
    poison = codes[1]  # published before four good events
    probe = Probe(broken={poison})
    async with running(REGISTRY_SPEC, settings) as producer, running(probe.consumer_spec(), settings):
        assert producer.sessionmaker is not None
        await write_areas(producer.sessionmaker, codes, WriteLog(), timeout=20)
        events = await committed_areas(url)

        await wait_until(lambda: _good_applied(url, events - 1), timeout=10, what="the events after the poison")
        assert probe.calls[poison] < MAX_DELIVER and await _dlq(broker) == 0, (
            "later events were applied while the poison was still being retried"
        )
        await wait_until(lambda: _dlq_holds(broker, 1), timeout=20, what="the poison in the DLQ")
        assert probe.calls[poison] == MAX_DELIVER

        async with jetstream(broker) as js:
            parked = await list_parked(js)
        assert len(parked) == 1, "parked once, by the consumer (no server MAX_DELIVERIES advisory)"
        entry = parked[0]
        assert (entry.source, entry.subject, entry.stream) == ("dlq", AREA_SUBJECT, "REGISTRY")
        assert (entry.service, entry.consumer, entry.deliveries) == ("tickets", PROBE_CONSUMER, MAX_DELIVER)
        assert f"ProbeFailure: probe handler refuses {poison}" in entry.reason
        await wait_until(lambda: consumer_settled(broker, PROBE_CONSUMER), timeout=10, what="the poison acked")

        # The handler is fixed; the operator replays the parked event.
        probe.broken.clear()
        async with jetstream(broker) as js:
            assert await replay(js, entry.seq) == AREA_SUBJECT
        await wait_until(lambda: _poison_applied(url, poison), timeout=10, what="the replayed event")
        await wait_until(lambda: consumer_settled(broker, PROBE_CONSUMER), timeout=10, what="the replay acked")
        assert await _dlq(broker) == 0, "replay removed it from the DLQ"

    effects = await probe_effects(url)
    assert effects.rows == effects.distinct_events == events
    assert probe.calls[poison] == MAX_DELIVER + 1


async def test_unreadable_event_is_parked_at_once(stack: Stack) -> None:
    settings = stack.settings(consumer_max_deliver=MAX_DELIVER)
    broker = stack.broker.url
    probe = Probe()
    async with running(probe.consumer_spec(), settings):
        async with jetstream(broker) as js:
            await js.publish(AREA_SUBJECT, b'{"not": "an envelope"}', headers={"Nats-Msg-Id": new_msg_id()})
        await wait_until(lambda: _dlq_holds(broker, 2), timeout=10, what="both tickets consumers to park it")
        async with jetstream(broker) as js:
            parked = await list_parked(js)
    assert sorted(p.consumer for p in parked) == sorted([PROBE_CONSUMER, REPLICA_CONSUMER])
    assert all(p.deliveries == 1 and p.reason.startswith("unreadable event") for p in parked)
    assert probe.calls == {}


async def _dlq(broker: str) -> int:
    async with jetstream(broker) as js:
        return await dlq_size(js)


async def _dlq_holds(broker: str, count: int) -> bool:
    return await _dlq(broker) >= count


async def _good_applied(url: str, count: int) -> bool:
    return (await probe_effects(url)).rows >= count


async def _poison_applied(url: str, code: str) -> bool:
    return (await probe_effects(url)).per_code.get(code, 0) >= 1
