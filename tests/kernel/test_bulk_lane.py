"""A bulk import's events never hold up an interactive event, end to end: outbox → relay → JetStream
→ a running consumer → its effect (real PostgreSQL, NATS, relay and consumer workers)."""

from __future__ import annotations

import asyncio
import time

from nats.js.api import Header
from sqlalchemy import text

from contracts import AreaUpdated
from contracts.base import bulk_subject, stream_for_subject
from kernel.consumer import EventConsumer, Subscription
from kernel.outbox import envelope_for
from kernel.runtime import Runtime
from kernel.settings import Settings
from services.tickets.app import SPEC as TICKETS
from tests.kernel.test_outbox_batches import add_single, copy, envelopes

BULK_EVENTS = 3000
HANDLER_SECONDS = 0.002  # per event: the bulk batch takes the consumer about 6 s


async def slow_record(session, event, envelope) -> None:
    """The effect, with a few ms of work per event (a real handler's queries)."""
    await asyncio.sleep(HANDLER_SECONDS)
    await session.execute(
        text("INSERT INTO tickets.audit_event (actor, action, record_type, record_id) "
             "VALUES ('test', 'applied', 'area', :code)"), {"code": event.code})


async def count(rt: Runtime, sql: str) -> int:
    async with rt.sessionmaker() as session:
        return int((await session.execute(text(sql))).scalar_one())


def test_bulk_subjects_live_in_their_own_stream() -> None:
    assert stream_for_subject("registry.person.registered.v1") == "REGISTRY"
    assert bulk_subject("registry.person.registered.v1") == "bulk.registry.person.registered.v1"
    assert stream_for_subject(bulk_subject("registry.person.registered.v1")) == "REGISTRY_BULK"


async def test_an_interactive_event_overtakes_a_bulk_batch_in_flight(
    registry_runtime: Runtime, settings: Settings
) -> None:
    producer = registry_runtime
    assert producer.relay is not None
    consumer_rt = Runtime(TICKETS, settings)
    await consumer_rt.start(workers=False)
    assert consumer_rt.sessionmaker is not None and consumer_rt.js is not None
    consumer = EventConsumer(
        service="tickets", schema="tickets", sessionmaker=consumer_rt.sessionmaker, js=consumer_rt.js,
        subscription=Subscription("kernel-bulk-lane", "registry.area.*.v1", slow_record),
        ack_wait=settings.consumer_ack_wait_seconds)
    await consumer.subscribe()
    stop = asyncio.Event()
    workers = [asyncio.create_task(producer.relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    try:
        await copy(producer, *(envelopes(500 * i, 500) for i in range(BULK_EVENTS // 500)))
        applied = "SELECT count(*) FROM tickets.audit_event"
        deadline = time.monotonic() + 30
        while await count(consumer_rt, applied) < 200:  # the consumer is working through the bulk batch
            assert time.monotonic() < deadline, "the bulk events never reached the consumer"
            await asyncio.sleep(0.02)

        written = time.monotonic()
        await add_single(producer, 99_999)
        while not await count(consumer_rt, "SELECT count(*) FROM tickets.audit_event WHERE record_id = 'IN-23-99999'"):
            assert time.monotonic() < deadline, "the interactive event was never applied"
            await asyncio.sleep(0.005)
        latency = time.monotonic() - written
        bulk_done = await count(consumer_rt, applied) - 1
        print(f"\ninteractive event applied {latency * 1000:.0f} ms after its commit, "
              f"with {bulk_done} of {BULK_EVENTS} bulk events applied")
        assert bulk_done < BULK_EVENTS * 0.8, f"the interactive event waited for the bulk batch ({latency:.2f} s)"
        assert latency < 1.5
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
        await consumer.close()
        await consumer_rt.stop()


async def test_an_ordered_consumer_skips_a_bulk_event_older_than_an_applied_interactive_one(
    clean: None, settings: Settings
) -> None:
    """The lanes share the consumer's entity versions: an import's version 1 arriving (on the bulk
    stream) after the entity's interactive version 2 was applied is stale, not applied over it."""
    rt = Runtime(TICKETS, settings)
    await rt.start(workers=False)
    assert rt.js is not None and rt.sessionmaker is not None
    applied: list[tuple[str, int]] = []

    async def remember(session, event, envelope) -> None:
        applied.append((event.code, event.version))

    consumer = EventConsumer(service="tickets", schema="tickets", sessionmaker=rt.sessionmaker, js=rt.js,
                             subscription=Subscription("kernel-bulk-ordered", "registry.area.*.v1", remember,
                                                       ordered=True))
    try:
        await consumer.subscribe()
        for version, subject in ((2, AreaUpdated.subject), (1, bulk_subject(AreaUpdated.subject)),
                                 (3, bulk_subject(AreaUpdated.subject))):
            event = AreaUpdated(code="IN-23", parent_code="IN", level="state", name=f"v{version}", version=version)
            envelope = envelope_for(event, source="registry")
            await rt.js.publish(subject, envelope.model_dump_json().encode(), headers={Header.MSG_ID: str(envelope.id)})
            assert await consumer.poll(timeout=2) == 1
        assert applied == [("IN-23", 2), ("IN-23", 3)]
    finally:
        await consumer.close()
        await rt.stop()
