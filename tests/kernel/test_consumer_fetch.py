"""A consumer's batch is every message ready on the server, taken without lingering (real NATS)."""

from __future__ import annotations

import asyncio
import time

from nats.js.api import Header
from sqlalchemy import text

from contracts import AreaUpdated
from kernel.area_replica import area_replica_subscription
from kernel.consumer import EventConsumer, Subscription
from kernel.outbox import envelope_for
from kernel.runtime import Runtime
from kernel.settings import Settings
from services.tickets.app import SPEC as TICKETS

SUBJECT = "registry.area.updated.v1"


async def publish(js, count: int) -> None:
    for n in range(count):
        event = AreaUpdated(code=f"IN-{n:02d}", parent_code="IN", level="state", name=f"S{n}", version=1)
        envelope = envelope_for(event, source="registry")
        await js.publish(SUBJECT, envelope.model_dump_json().encode(), headers={Header.MSG_ID: str(envelope.id)})


async def nothing(session, event, envelope) -> None:
    return None


async def test_a_poll_takes_every_ready_message_at_once_and_never_lingers(clean: None, settings: Settings) -> None:
    rt = Runtime(TICKETS, settings)
    await rt.start(workers=False)
    assert rt.js is not None and rt.sessionmaker is not None
    consumer = EventConsumer(service="tickets", schema="tickets", sessionmaker=rt.sessionmaker, js=rt.js,
                             subscription=Subscription("kernel-fetch", "registry.area.*.v1", nothing), batch_size=200)
    try:
        await consumer.subscribe()
        await publish(rt.js, 150)
        assert await consumer.poll(timeout=2) == 150  # one batch, one transaction
        await publish(rt.js, 3)
        started = time.monotonic()
        assert await consumer.poll(timeout=2) == 3
        assert time.monotonic() - started < 0.5  # fewer than a batch ready: no waiting for the rest
        assert rt.nc is not None
        await rt.nc.flush()  # the acks reach the server
        info = await consumer._psub.consumer_info()
        assert (info.num_pending, info.num_ack_pending) == (0, 0)
    finally:
        await consumer.close()
        await rt.stop()


async def test_a_batch_handler_applies_a_batch_at_once_and_falls_back_event_by_event(
    clean: None, settings: Settings
) -> None:
    """The area replica applies a batch in one statement (newest version per area wins); a batch
    handler that fails is redone event by event, so only the bad event is retried."""
    rt = Runtime(TICKETS, settings)
    await rt.start(workers=False)
    assert rt.js is not None and rt.sessionmaker is not None
    replica = area_replica_subscription("tickets")
    calls: list[int] = []

    async def batch(session, events) -> None:
        calls.append(len(events))
        if any(event.name == "poison" for event, _ in events):
            raise ValueError("bad area")
        assert replica.batch_handler is not None
        await replica.batch_handler(session, events)

    async def one(session, event, envelope) -> None:
        if event.name == "poison":
            raise ValueError("bad area")
        await replica.handler(session, event, envelope)

    consumer = EventConsumer(service="tickets", schema="tickets", sessionmaker=rt.sessionmaker, js=rt.js,
                             subscription=Subscription("kernel-batch", "registry.area.*.v1", one, batch_handler=batch),
                             batch_size=200, max_deliver=3, backoff=[0.05])
    try:
        await consumer.subscribe()
        for version, name in ((2, "Two"), (1, "One"), (3, "Three")):
            event = AreaUpdated(code="IN-23", parent_code="IN", level="state", name=name, version=version)
            await rt.js.publish(SUBJECT, envelope_for(event, source="registry").model_dump_json().encode())
        assert await consumer.poll(timeout=2) == 3
        assert calls == [3]
        async with rt.sessionmaker() as session:
            row = (await session.execute(text("SELECT name, version FROM tickets.area WHERE code = 'IN-23'"))).one()
        assert tuple(row) == ("Three", 3)

        for code, name in (("IN-24", "ok"), ("IN-25", "poison"), ("IN-26", "ok")):
            event = AreaUpdated(code=code, parent_code="IN", level="state", name=name, version=1)
            await rt.js.publish(SUBJECT, envelope_for(event, source="registry").model_dump_json().encode())
        await consumer.poll(timeout=2)
        async with rt.sessionmaker() as session:
            codes = (await session.execute(text("SELECT code FROM tickets.area ORDER BY code"))).scalars().all()
        assert codes == ["IN-23", "IN-24", "IN-26"]  # the poison event alone is retried
        assert calls == [3, 3]
    finally:
        await consumer.close()
        await rt.stop()


async def test_a_caught_up_consumer_lingers_for_the_events_behind_the_first(clean: None, settings: Settings) -> None:
    """A caught-up consumer's batch also takes the events that arrive within its linger (fewer,
    bigger transactions at a steady trickle); without a linger the batch is the first event alone.
    With a backlog of a full batch ready it does not linger at all."""
    rt = Runtime(TICKETS, settings)
    await rt.start(workers=False)
    assert rt.js is not None and rt.sessionmaker is not None
    consumers = {linger: EventConsumer(service="tickets", schema="tickets", sessionmaker=rt.sessionmaker, js=rt.js,
                                       subscription=Subscription(f"kernel-linger-{n}", "registry.area.*.v1", nothing),
                                       batch_size=10, linger=linger)
                 for n, linger in enumerate((0.0, 0.5))}
    try:
        for consumer in consumers.values():
            await consumer.subscribe()
        for linger, consumer in consumers.items():
            while await consumer.poll(timeout=0.3):  # the other round's events
                pass
            await publish(rt.js, 1)
            polling = asyncio.create_task(consumer.poll(timeout=2))
            await asyncio.sleep(0.2)  # the first event is fetched; two more arrive within the linger
            await publish(rt.js, 2)
            assert await polling == (1 if linger == 0 else 3)
        lingering = consumers[0.5]
        while await lingering.poll(timeout=0.3):
            pass
        await publish(rt.js, 25)
        started = time.monotonic()
        assert await lingering.poll(timeout=2) == 10
        assert time.monotonic() - started < 0.4  # a full batch was ready: no linger
    finally:
        for consumer in consumers.values():
            await consumer.close()
        await rt.stop()
