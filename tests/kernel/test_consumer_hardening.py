"""Consumers under reordering, contention, slow handlers and replays (real PostgreSQL and NATS)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid

import asyncpg
import pytest
from nats.js.api import Header
from prometheus_client import REGISTRY as METRICS
from sqlalchemy import text

from contracts import AreaUpdated
from kernel import dlq
from kernel.consumer import EventConsumer, Subscription, is_infrastructure_error
from kernel.outbox import envelope_for
from kernel.runtime import Runtime
from services.tickets.app import SPEC as TICKETS

SUBJECT = "registry.area.updated.v1"


@pytest.fixture
async def rt(clean, settings):
    runtime = Runtime(TICKETS, settings)
    await runtime.start(workers=False)
    yield runtime
    await runtime.stop()


def counter(name: str, **labels: str) -> float:
    return METRICS.get_sample_value(name, labels) or 0.0


async def publish(rt: Runtime, code: str, version: int) -> uuid.UUID:
    event = AreaUpdated(code=code, parent_code="IN", level="state", name=f"{code} v{version}", version=version)
    envelope = envelope_for(event, source="registry")
    assert envelope.entity == f"area:{code}" and envelope.entity_version == version
    await rt.js.publish(SUBJECT, envelope.model_dump_json().encode(), headers={Header.MSG_ID: str(envelope.id)})
    return envelope.id


async def record(session, event, envelope) -> None:
    """The effect: one audit row per application (no unique key, so a double apply shows)."""
    await session.execute(
        text("INSERT INTO tickets.audit_event (actor, action, record_type, record_id, details) "
             "VALUES ('test', 'applied', 'area', :code, CAST(:v AS jsonb))"),
        {"code": event.code, "v": str(event.version)})


async def applied(rt: Runtime) -> list[tuple[str, int]]:
    async with rt.sessionmaker() as session:
        rows = await session.execute(text("SELECT record_id, details FROM tickets.audit_event ORDER BY id"))
        return [(r[0], int(r[1])) for r in rows]


def consumer(rt: Runtime, name: str, handler=record, **kwargs) -> EventConsumer:
    ordered = kwargs.pop("ordered", False)
    return EventConsumer(service="tickets", schema="tickets", subscription=Subscription(name, SUBJECT, handler,
                         ordered=ordered), sessionmaker=rt.sessionmaker, js=rt.js, **kwargs)


async def drain(c: EventConsumer, expected: int, deadline: float = 30.0) -> int:
    total, give_up = 0, time.monotonic() + deadline
    while total < expected and time.monotonic() < give_up:
        total += await c.poll(timeout=1)
    return total


async def test_ordered_consumer_applies_each_entitys_versions_in_order_under_reordering(rt) -> None:
    rng = random.Random(11)
    versions = {f"IN-{n:02d}": list(range(1, 7)) for n in range(1, 5)}
    deliveries = [(code, v) for code, vs in versions.items() for v in vs]
    deliveries += rng.sample(deliveries, 6)  # redeliveries and re-publishes under new ids
    rng.shuffle(deliveries)
    for code, version in deliveries:
        await publish(rt, code, version)
    c = consumer(rt, "tickets-ordered-test", ordered=True, batch_size=7)
    assert await drain(c, len(deliveries)) == len(deliveries)
    effects = await applied(rt)
    for code in versions:
        seen = [v for c_, v in effects if c_ == code]
        assert seen == sorted(set(seen)), f"{code} applied out of order: {seen}"
        assert seen[-1] == max(v for c_, v in deliveries if c_ == code)
    stale = counter("gramsetu_events_consumed_total", service="tickets", consumer="tickets-ordered-test",
                    outcome="stale")
    print(f"\ntally: published {len(deliveries)}, applied {len(effects)}, stale {stale:.0f}")
    assert stale > 0 and len(effects) + stale == len(deliveries)


async def test_deadlocks_and_serialisation_failures_are_retried_never_parked(rt) -> None:
    left = {"n": 3}

    async def contended(session, event, envelope):
        if left["n"]:
            left["n"] -= 1
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        await record(session, event, envelope)

    await publish(rt, "IN-30", 1)
    c = consumer(rt, "tickets-contended-test", handler=contended, max_deliver=2)
    assert await drain(c, 1) == 1
    assert await applied(rt) == [("IN-30", 1)]
    assert await dlq.list_parked(rt.js) == []


async def test_a_handlers_own_timeout_is_parked_like_any_handler_error_not_taken_for_an_outage(rt) -> None:
    async def slow_partner(session, event, envelope):
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    await publish(rt, "IN-31", 1)
    c = consumer(rt, "tickets-timeout-test", handler=slow_partner, max_deliver=2, backoff=[0.05], ack_wait=1)
    deadline = time.monotonic() + 30
    while not await dlq.list_parked(rt.js) and time.monotonic() < deadline:
        await c.poll(timeout=0.5)
    (parked,) = await dlq.list_parked(rt.js)
    assert parked.consumer == "tickets-timeout-test" and "TimeoutError" in parked.reason


async def test_a_long_batch_stays_in_progress_and_is_not_redelivered(rt) -> None:
    async def slow(session, event, envelope):
        await asyncio.sleep(1.5)  # longer than AckWait
        await record(session, event, envelope)

    for n in range(3):
        await publish(rt, f"IN-4{n}", 1)
    first = consumer(rt, "tickets-slow-test", handler=slow, ack_wait=1, batch_size=3)
    second = consumer(rt, "tickets-slow-test", handler=slow, ack_wait=1, batch_size=3)
    await first.subscribe()
    await second.subscribe()
    redelivered = counter("gramsetu_event_redeliveries_total", service="tickets", consumer="tickets-slow-test")
    await asyncio.gather(drain(first, 3, deadline=8), drain(second, 3, deadline=8))
    assert sorted(await applied(rt)) == [("IN-40", 1), ("IN-41", 1), ("IN-42", 1)]
    assert counter("gramsetu_event_redeliveries_total", service="tickets", consumer="tickets-slow-test") == redelivered


async def test_dlq_replay_goes_only_to_the_consumer_that_parked_it(rt) -> None:
    broken = {"on": True}

    async def fragile(session, event, envelope):
        if broken["on"]:
            raise RuntimeError("bug")
        await record(session, event, envelope)

    async def other_effect(session, event, envelope):
        await session.execute(text("INSERT INTO tickets.audit_event (actor, action, record_type, record_id) "
                                   "VALUES ('other', 'applied', 'area', :c)"), {"c": event.code})

    await publish(rt, "IN-50", 1)
    parking = consumer(rt, "tickets-fragile-test", handler=fragile, max_deliver=1)
    other = consumer(rt, "tickets-other-test", handler=other_effect)
    assert await drain(parking, 1) == 1 and await drain(other, 1) == 1
    (parked,) = await dlq.list_parked(rt.js)
    broken["on"] = False
    await dlq.replay(rt.js, parked.seq)
    assert await drain(parking, 1) == 1 and await drain(other, 1) == 1
    async with rt.sessionmaker() as session:
        rows = (await session.execute(text("SELECT actor, count(*) FROM tickets.audit_event GROUP BY actor"))).all()
    assert dict(rows) == {"test": 1, "other": 1}  # the other consumer did not apply the replay again


async def test_replay_of_an_advisory_only_park(rt) -> None:
    """The server gave up (MaxDeliver reached without any ack: the worker kept dying): only an advisory
    records it.  Replaying it applies the event once, for that consumer only."""
    await publish(rt, "IN-60", 1)
    c = consumer(rt, "tickets-dying-test", max_deliver=2, ack_wait=0.5, backoff=[0.5])
    await c.subscribe()
    for _ in range(2):  # fetched, then the "process dies" before applying: never acked
        msgs = await c._psub.fetch(1, timeout=5)
        assert msgs
        await asyncio.sleep(0.7)
    deadline = time.monotonic() + 20
    while not (parked := await dlq.list_parked(rt.js)) and time.monotonic() < deadline:
        # The server notices the exhausted deliveries when it would deliver again (a pending pull).
        with contextlib.suppress(Exception):
            assert not await c._psub.fetch(1, timeout=0.5)
    (advisory,) = parked
    assert advisory.source == "advisory" and advisory.consumer == "tickets-dying-test"
    await dlq.replay(rt.js, advisory.seq, source="advisory")
    assert await drain(c, 1) == 1
    assert await applied(rt) == [("IN-60", 1)]
    assert await dlq.list_parked(rt.js) == []


async def test_a_paused_consumer_mid_transaction_does_not_cause_a_double_apply_or_a_park(clean, settings) -> None:
    """Drill: replica A stops mid-transaction (as under SIGSTOP: no progress acks, its session idle in
    a transaction holding the inbox row) for longer than AckWait.  Replica B gets the redelivery;
    its inbox claim hits A's row lock (lock_timeout, retried, never parked) until PostgreSQL ends
    A's idle session; then B applies.  A "resumes" (SIGCONT) to a dead session: nothing twice."""
    paused_settings = settings.model_copy(update={"db_idle_in_transaction_timeout_seconds": 1.5,
                                                  "db_lock_timeout_seconds": 0.3})
    rt = Runtime(TICKETS, paused_settings)
    await rt.start(workers=False)
    try:
        stopped, resume = asyncio.Event(), asyncio.Event()

        async def stops_once(session, event, envelope):
            await record(session, event, envelope)
            if not stopped.is_set():
                stopped.set()
                await resume.wait()  # "SIGSTOP" inside the transaction

        await publish(rt, "IN-70", 1)
        a = consumer(rt, "tickets-paused-test", handler=stops_once, ack_wait=1, backoff=[1], max_deliver=20,
                     lock_timeout=0.3)
        a._keep_in_progress = _silent  # a stopped process sends no progress acks either
        b = consumer(rt, "tickets-paused-test", handler=stops_once, ack_wait=1, backoff=[1], max_deliver=20,
                     lock_timeout=0.3)
        paused = asyncio.create_task(a.poll(timeout=5))
        await asyncio.wait_for(stopped.wait(), timeout=10)
        applied_by_b = 0
        deadline = time.monotonic() + 30
        while not applied_by_b and time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # contended claims surface as errors: left unacked
                await b.poll(timeout=1)
            applied_by_b = len(await applied(rt))
        resume.set()  # "SIGCONT"
        with contextlib.suppress(Exception):
            await paused
        await drain(b, 0)
        effects = await applied(rt)
        parked = await dlq.list_parked(rt.js)
        print(f"\ntally: accepted 1, published 1, applied {len(effects)}, parked {len(parked)}")
        assert effects == [("IN-70", 1)]
        assert parked == []
    finally:
        await rt.stop()


async def _silent(msgs) -> None:
    return None


async def test_a_pooled_connection_dropped_while_idle_costs_no_redelivery(rt, database_url) -> None:
    """Consumers borrow from the service engine, which pings a pooled connection before lending it
    (``pool_pre_ping``, kernel/db.py): one the server dropped while idle (an operator's
    pg_terminate_backend, a proxy's idle cut, a failover) is replaced on checkout, so the next event
    is applied in its first delivery.  Without the ping the batch fails as a database outage and
    waits AckWait for its redelivery, spending one of its deliveries (which is why the worker
    engine keeps the ping: the round trip it costs is far cheaper than that tail)."""
    c = consumer(rt, "tickets-dropped-connection-test")
    await publish(rt, "IN-40", 1)
    assert await drain(c, 1) == 1  # the engine's pool now holds idle connections
    conn = await asyncpg.connect(database_url)
    try:
        dropped = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'")
    finally:
        await conn.close()
    assert dropped > 0
    redeliveries = counter("gramsetu_event_redeliveries_total", service="tickets",
                           consumer="tickets-dropped-connection-test")
    await publish(rt, "IN-40", 2)
    assert await c.poll(timeout=1) == 1  # applied at once, no exception, no AckWait
    assert await applied(rt) == [("IN-40", 1), ("IN-40", 2)]
    assert counter("gramsetu_event_redeliveries_total", service="tickets",
                   consumer="tickets-dropped-connection-test") == redeliveries


SLOW_COMMIT = """
CREATE TABLE tickets.commit_stall_armed (armed boolean NOT NULL);
INSERT INTO tickets.commit_stall_armed VALUES (true);
CREATE FUNCTION tickets.commit_stall() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT armed FROM tickets.commit_stall_armed) THEN
    UPDATE tickets.commit_stall_armed SET armed = false;
    PERFORM pg_sleep(3);
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER commit_stall AFTER INSERT ON tickets.audit_event
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tickets.commit_stall();
"""
NO_SLOW_COMMIT = """
DROP TRIGGER IF EXISTS commit_stall ON tickets.audit_event;
DROP FUNCTION IF EXISTS tickets.commit_stall();
DROP TABLE IF EXISTS tickets.commit_stall_armed;
"""


async def test_a_commit_that_gets_no_answer_is_given_up_and_the_event_applied_once(rt, database_url) -> None:
    """The consumer's COMMIT hangs (here: a deferred trigger sleeps 3 s at commit time; in life a
    stopped backend, a half-open connection, a synchronous standby gone).  Before, the fetch loop
    waited for as long as the server did.  With ``commit_timeout`` the connection is ended, the
    batch fails as a lost connection (left unacked, not a handler failure), and the redelivery finds
    the inbox row the late COMMIT wrote after all: the effect is applied once."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(SLOW_COMMIT)
        c = consumer(rt, "tickets-commit-stall-test", ack_wait=1, backoff=[1], max_deliver=20, commit_timeout=0.5)
        await c.subscribe()
        await publish(rt, "IN-CS", 1)
        with pytest.raises(Exception) as given_up:
            await c.poll(timeout=5)
        assert is_infrastructure_error(given_up.value)
        await asyncio.sleep(3)  # the server finishes the COMMIT the consumer gave up on
        assert await applied(rt) == [("IN-CS", 1)]
        duplicates = counter("gramsetu_events_consumed_total", service="tickets",
                             consumer="tickets-commit-stall-test", outcome="duplicate")
        assert await drain(c, 1) == 1  # redelivered after AckWait: the inbox has it
        assert counter("gramsetu_events_consumed_total", service="tickets", consumer="tickets-commit-stall-test",
                       outcome="duplicate") == duplicates + 1
        assert await applied(rt) == [("IN-CS", 1)]
    finally:
        await conn.execute(NO_SLOW_COMMIT)
        await conn.close()


async def test_a_statement_that_gets_no_answer_is_given_up_and_the_event_applied_once(rt) -> None:
    """A handler's statement gets no answer (here: ``pg_sleep(3)`` on the first delivery; in life a
    stopped backend or a half-open connection, where the server's own statement timeout never
    fires).  Before, the fetch loop waited as long as the server did.  With ``statement_timeout``
    the connection is ended, the batch fails as a lost connection (left unacked: not a handler
    failure, no attempt spent on a retry or a park), and the redelivery applies the event once."""
    deliveries: list[str] = []

    async def stalls_once(session, event, envelope) -> None:
        deliveries.append(event.code)
        if len(deliveries) == 1:
            await session.execute(text("SELECT pg_sleep(3)"))
        await record(session, event, envelope)

    name = "tickets-statement-stall-test"
    c = consumer(rt, name, handler=stalls_once, ack_wait=1, backoff=[1], max_deliver=20, statement_timeout=0.5)
    await c.subscribe()
    await publish(rt, "IN-SS", 1)
    started = time.monotonic()
    with pytest.raises(Exception) as given_up:
        await c.poll(timeout=5)
    assert time.monotonic() - started < 2.5
    assert is_infrastructure_error(given_up.value)
    assert await applied(rt) == []
    await asyncio.sleep(3)  # the abandoned server session ends (it holds the event's inbox row lock till then)
    assert await drain(c, 1) == 1  # redelivered after AckWait
    assert await applied(rt) == [("IN-SS", 1)]
    assert deliveries == ["IN-SS", "IN-SS"]
    assert counter("gramsetu_events_consumed_total", service="tickets", consumer=name, outcome="retry") == 0
