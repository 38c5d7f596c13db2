"""Drill 3: an event reaches the consumer again (re-published, NAKed, ack wait expired) → one effect."""

from __future__ import annotations

import asyncio
import time

import pytest

from kernel.consumer import EventConsumer
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
    jetstream,
    new_msg_id,
    probe_effects,
    running,
    stream_count,
    wait_until,
    write_areas,
)

pytestmark = pytest.mark.timeout(60)


async def test_event_republished_under_a_new_msg_id_is_applied_once(stack: Stack) -> None:
    settings = stack.settings()
    url, broker = stack.pg.url, stack.broker.url
    probe = Probe()
    async with running(REGISTRY_SPEC, settings) as producer, running(probe.consumer_spec(), settings):
        assert producer.sessionmaker is not None
        await write_areas(producer.sessionmaker, district_codes(5), WriteLog(), timeout=20)
        events = await committed_areas(url)
        await wait_until(lambda: _applied(url, events), timeout=20, what="first delivery of every event")

        # An operator re-sends an old event (or a producer bug re-publishes it): new Nats-Msg-Id, same body.
        duplicates_before = counter_value(
            "gramsetu_events_consumed_total", service="tickets", consumer=PROBE_CONSUMER, outcome="duplicate"
        )
        async with jetstream(broker) as js:
            for seq in range(1, events + 1):
                original = await js.get_msg("REGISTRY", seq)
                ack = await js.publish(AREA_SUBJECT, original.data or b"", headers={"Nats-Msg-Id": new_msg_id()})
                assert not ack.duplicate, "a new msg id is not deduplicated by the stream: only the inbox can stop it"
        assert await stream_count(broker) == 2 * events
        await wait_until(lambda: consumer_settled(broker, PROBE_CONSUMER), timeout=20, what="the re-sends consumed")

    skipped = counter_value(
        "gramsetu_events_consumed_total", service="tickets", consumer=PROBE_CONSUMER, outcome="duplicate"
    ) - duplicates_before
    assert skipped == events, "every re-sent event was recognised by the inbox"
    effects = await probe_effects(url)
    assert effects.rows == effects.distinct_events == events
    assert sum(probe.calls.values()) == events, "the handler never saw a re-sent event"


async def test_nak_after_a_transient_failure_redelivers_and_applies_once(stack: Stack) -> None:
    settings = stack.settings()
    url, broker = stack.pg.url, stack.broker.url
    codes = district_codes(6)
    flaky = {codes[2], codes[5]}
    probe = Probe(flaky_once=flaky)
    async with running(REGISTRY_SPEC, settings) as producer, running(probe.consumer_spec(), settings):
        assert producer.sessionmaker is not None
        await write_areas(producer.sessionmaker, codes, WriteLog(), timeout=20)
        events = await committed_areas(url)
        await wait_until(lambda: _applied(url, events), timeout=20, what="every event, the flaky ones retried")
        await wait_until(lambda: consumer_settled(broker, PROBE_CONSUMER), timeout=20, what="the probe to settle")

    effects = await probe_effects(url)
    assert effects.rows == effects.distinct_events == events
    assert all(probe.calls[code] == 2 for code in flaky), "failed once (NAK), then applied on redelivery"
    # Neighbours fetched in the same batch as a failure may run twice (the fast path's attempt
    # is rolled back), but each effect committed once: checked on the rows above.
    assert all(n <= 2 for code, n in probe.calls.items() if code not in flaky)


async def test_a_slow_attempt_longer_than_ack_wait_stays_in_progress_and_lands_once(stack: Stack) -> None:
    """A slow first attempt outlasts AckWait while a second replica runs.

    Replica A reports the batch in progress (+WPI) while it runs, so JetStream does not hand it to
    replica B: no redelivery, no failure counted, one effect.  (Before in_progress, B got it after
    AckWait and its inbox claim had to wait for A's.)  Replica A is polled by the test so that its
    slow batch is known to have committed before the effects are counted.
    """
    settings = stack.settings(consumer_ack_wait_seconds=1.0)
    url, broker = stack.pg.url, stack.broker.url
    probe = Probe(slow_first={"IN-07"}, slow_seconds=2.5)  # > AckWait
    redeliveries_before = counter_value(
        "gramsetu_event_redeliveries_total", service="tickets", consumer=PROBE_CONSUMER
    )
    async with running(REGISTRY_SPEC, settings) as producer, \
            running(probe.consumer_spec(), settings, workers=False) as replica_a:
        assert producer.sessionmaker is not None
        await write_areas(producer.sessionmaker, ["IN-07"], WriteLog(), timeout=20)
        events = await committed_areas(url)  # the state and its implicit country
        await wait_until(lambda: _published(broker, events), timeout=10, what="the events in the stream")

        (slow,) = [c for c in replica_a.consumers if c.name == PROBE_CONSUMER]
        first_attempt = asyncio.create_task(_first_batch(slow))
        await wait_until(lambda: _called(probe, "IN-07"), timeout=30, what="replica A inside the slow handler")
        async with running(probe.consumer_spec(), settings):  # replica B, running as in production
            assert await asyncio.wait_for(first_attempt, timeout=10) == events, "A fetched, applied, acked late"
            await wait_until(lambda: consumer_settled(broker, PROBE_CONSUMER), timeout=20, what="all acked")
            stopping = time.monotonic()
        # Redelivered messages left on a stopped worker's pull inbox once stalled nc.drain() for 5 s.
        assert time.monotonic() - stopping < 3.0, "replica B shut down promptly"

    redelivered = counter_value(
        "gramsetu_event_redeliveries_total", service="tickets", consumer=PROBE_CONSUMER
    ) - redeliveries_before
    effects = await probe_effects(url)
    print(f"\ntally: accepted {events}, applied {effects.rows}, redelivered {redelivered:.0f}, parked 0")
    assert redelivered == 0, "the slow batch was kept in progress, not redelivered to B"
    assert effects.rows == effects.distinct_events == events
    assert probe.calls["IN-07"] == 1


async def _first_batch(consumer: EventConsumer, attempts: int = 20) -> int:
    """Poll until a batch comes: on a loaded machine one 2 s fetch can come back empty before the
    message is delivered, and poll() takes turns with the (empty) bulk lane; those empty polls are
    not what the test is about."""
    for _ in range(attempts):
        if fetched := await consumer.poll(timeout=2.0):
            return fetched
    return 0


async def _called(probe: Probe, code: str) -> bool:
    return probe.calls[code] >= 1


async def _applied(url: str, events: int) -> bool:
    return (await probe_effects(url)).distinct_events >= events


async def _published(broker: str, events: int) -> bool:
    return await stream_count(broker) >= events
