"""Batch outbox rows: one row carries many events; the relay publishes each as its own message."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest
from nats.js import JetStreamContext
from nats.js.api import Header
from prometheus_client import REGISTRY as METRICS

from contracts import AreaCreated, AreaUpdated, Envelope
from contracts.base import Event, bulk_subject
from gramsetu.cli import _outbox
from kernel.db import transaction
from kernel.outbox import MAX_BATCH_EVENTS, add_event, batch_line, copy_event_batches, envelope_for
from kernel.relay import BEGIN_RELAY, BULK, INTERACTIVE, OutboxRelay, PublishIncomplete
from kernel.runtime import Runtime
from kernel.settings import Settings
from services.registry.app import SPEC as REGISTRY
from tests.kernel.plans import Plan, generic_plan, walk_plan

SCHEMA = "registry"
STREAM = "REGISTRY"
BULK_STREAM = "REGISTRY_BULK"  # batch rows' events (bulk.registry.>)


@pytest.fixture
def producer(registry_runtime: Runtime) -> Runtime:
    return registry_runtime


def area_event(n: int) -> Event:
    code = f"IN-23-{n:04d}"
    if n % 2:  # mixed subjects inside one batch: each line carries its own
        return AreaUpdated(code=code, parent_code="IN-23", level="district", name=f"D{n}", version=2)
    return AreaCreated(code=code, parent_code="IN-23", level="district", name=f"D{n}", version=1)


def envelopes(start: int, count: int) -> list[Envelope]:
    return [envelope_for(area_event(n), source=SCHEMA) for n in range(start, start + count)]


def lines(batch: list[Envelope]) -> list[str]:
    return [batch_line(str(e.id), e.type, e.model_dump_json()) for e in batch]


async def copy(runtime: Runtime, *batches: list[Envelope], headers: dict[str, str] | None = None) -> int:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn, conn.transaction():
        return await copy_event_batches(conn, SCHEMA, [lines(b) for b in batches], headers=headers)


async def add_single(runtime: Runtime, n: int) -> uuid.UUID:
    assert runtime.sessionmaker is not None
    async with transaction(runtime.sessionmaker) as session:
        return await add_event(session, SCHEMA, area_event(n), source=SCHEMA)


async def fetch(runtime: Runtime, sql: str) -> Any:
    assert runtime.pool is not None
    return await runtime.pool.fetchval(sql)


def relay(runtime: Runtime, *, js: Any = None, **kwargs: Any) -> OutboxRelay:
    assert runtime.pool is not None and runtime.js is not None
    return OutboxRelay(service="registry-batches", schema=SCHEMA, pool=runtime.pool, js=js or runtime.js, **kwargs)


async def stored(js: JetStreamContext) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(msg id, subject, data, headers) of every message in the registry's streams: the interactive
    one, then the bulk one, each in stream order."""
    out = []
    for stream in (STREAM, BULK_STREAM):
        info = await js.stream_info(stream)
        for seq in range(info.state.first_seq, info.state.last_seq + 1 if info.state.messages else 0):
            msg = await js.get_msg(stream, seq)
            headers = msg.headers or {}
            out.append((headers[Header.MSG_ID], msg.subject or "", msg.data or b"", headers))
    return out


async def stream_messages(js: JetStreamContext) -> tuple[int, int]:
    """Messages in the registry's interactive and bulk streams."""
    return ((await js.stream_info(STREAM)).state.messages, (await js.stream_info(BULK_STREAM)).state.messages)


def counter(name: str, **labels: str) -> float:
    return METRICS.get_sample_value(name, labels) or 0.0


async def test_batch_rows_and_single_rows_are_each_published_once(producer: Runtime) -> None:
    first = await add_single(producer, 1)
    batches = envelopes(100, 500), envelopes(600, 700)
    assert await copy(producer, *batches, headers={"X-Request-ID": "import-7"}) == 1200
    last = await add_single(producer, 2)
    assert await fetch(producer, "SELECT count(*) FROM registry.outbox") == 4

    assert await relay(producer).drain() == 1202
    assert await fetch(producer, "SELECT count(*) FROM registry.outbox") == 0

    assert producer.js is not None
    messages = await stored(producer.js)
    expected = [e for batch in batches for e in batch]
    # Each lane keeps outbox order: single rows in the service's stream, batch rows' events in its
    # bulk stream, at the bulk subject; the envelope (and its type) is the same either way.
    assert await stream_messages(producer.js) == (2, 1200)
    assert [m[0] for m in messages] == [str(first), str(last), *(str(e.id) for e in expected)]
    for (msg_id, subject, data, headers), envelope in zip(messages[2:], expected, strict=True):
        assert msg_id == str(envelope.id)
        assert subject == bulk_subject(envelope.type) and headers["Gramsetu-Event-Type"] == envelope.type
        assert headers["X-Request-ID"] == "import-7"
        received = Envelope.model_validate_json(data)
        assert received == envelope and received.event() == envelope.event()
    assert {m[1] for m in messages[:2]} == {AreaCreated.subject, AreaUpdated.subject}
    assert {m[1] for m in messages[2:]} == {bulk_subject(AreaCreated.subject), bulk_subject(AreaUpdated.subject)}


async def test_two_lanes_single_rows_never_wait_behind_batch_rows(producer: Runtime) -> None:
    await add_single(producer, 1)
    await add_single(producer, 2)
    await copy(producer, envelopes(0, 300), envelopes(300, 300), envelopes(600, 700))
    await add_single(producer, 3)
    await copy(producer, envelopes(2000, 200))
    await add_single(producer, 4)
    small = relay(producer, batch_size=500)
    # The interactive lane takes every single-event row, even those written after a bulk import's
    # batch rows; the bulk lane takes each batch row alone (even one bigger than the batch size:
    # writers keep rows at or below it), in outbox order.
    assert [await small.publish_batch() for _ in range(6)] == [4, 300, 300, 700, 200, 0]
    assert producer.js is not None
    assert await stream_messages(producer.js) == (4, 1500)


async def test_a_claim_locks_only_the_rows_it_publishes(producer: Runtime) -> None:
    await copy(producer, *(envelopes(500 * i, 500) for i in range(3)))
    assert producer.pool is not None
    claim = relay(producer, batch_size=500)._select[BULK]
    async with producer.pool.acquire() as holder, holder.transaction():
        (held,) = await holder.fetch(claim)  # one 500-event row
        assert held["events"] == 500
        async with producer.pool.acquire() as other, other.transaction():
            (second,) = await other.fetch(claim)  # the next row, not locked by the first claim
            assert second["id"] != held["id"]


class LosingAcks:
    """Real JetStream, but chosen events lose their PubAck (stored, ack lost) or the whole publish (never sent)."""

    def __init__(self, js: JetStreamContext, *, lose_ack: set[str], lose_publish: set[str]) -> None:
        self.js = js
        self.lose_ack = lose_ack
        self.lose_publish = lose_publish

    async def publish_async(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future[Any]:
        msg_id = headers[Header.MSG_ID]
        if msg_id in self.lose_publish:
            return asyncio.get_running_loop().create_future()  # never resolved
        future = await self.js.publish_async(subject, payload, headers=headers)
        if msg_id in self.lose_ack:
            await future
            return asyncio.get_running_loop().create_future()
        return future


async def test_partly_acked_batch_row_is_kept_and_republished_without_duplicates(producer: Runtime) -> None:
    single = await add_single(producer, 1)
    batch = envelopes(100, 10)
    await copy(producer, batch)
    assert producer.js is not None
    lossy = LosingAcks(producer.js, lose_ack={str(batch[3].id)}, lose_publish={str(batch[7].id)})
    assert await relay(producer, js=lossy).publish_batch() == 1  # the single row, before the batch row
    with pytest.raises(PublishIncomplete):
        await relay(producer, js=lossy, publish_timeout=0.3).publish_batch()
    # The single row was acked and deleted; the batch row stays whole.
    remaining = await producer.pool.fetch("SELECT id, events FROM registry.outbox")  # type: ignore[union-attr]
    assert [r["events"] for r in remaining] == [10]
    assert await stream_messages(producer.js) == (1, 9)  # 1 + 10 - the one never sent

    duplicates = counter("gramsetu_events_publish_duplicates_total", service="registry-batches")
    assert await relay(producer).drain() == 10
    assert counter("gramsetu_events_publish_duplicates_total", service="registry-batches") - duplicates == 9
    assert await fetch(producer, "SELECT count(*) FROM registry.outbox") == 0
    ids = Counter(m[0] for m in await stored(producer.js))
    assert ids == Counter([str(single), *(str(e.id) for e in batch)])  # every event exactly once


async def test_check_constraint_wants_exactly_one_of_payload_and_batch(producer: Runtime) -> None:
    assert producer.pool is not None
    insert = "INSERT INTO registry.outbox (id, subject, payload, batch) VALUES ($1, 's', $2::jsonb, $3)"
    for payload, batch in (('{"a": 1}', "x"), (None, None)):
        with pytest.raises(asyncpg.CheckViolationError):
            await producer.pool.execute(insert, uuid.uuid4(), payload, batch)


async def test_backlog_counts_events_not_rows(producer: Runtime, settings: Settings) -> None:
    await copy(producer, envelopes(0, 3), envelopes(3, 4), [])
    await add_single(producer, 1)
    assert await fetch(producer, "SELECT count(*) FROM registry.outbox") == 3
    count, age = await relay(producer).backlog()
    assert (count, age >= 0) == (8, True)
    assert settings.database_url
    assert (await _outbox(settings.database_url))["registry"]["outbox_backlog"] == 8


async def test_writer_input_is_checked(producer: Runtime) -> None:
    with pytest.raises(ValueError, match="at most"):
        await copy(producer, envelopes(0, MAX_BATCH_EVENTS + 1))
    pretty = json.dumps({"a": 1}, indent=2)
    for bad in (("id", "sub\tject", "{}"), ("id", "subject", pretty)):
        with pytest.raises(ValueError, match="tab or newline"):
            batch_line(*bad)
    assert await fetch(producer, "SELECT count(*) FROM registry.outbox") == 0


async def test_commit_of_a_batch_wakes_the_relay(clean: None, settings: Settings) -> None:
    """The COPY notifies like add_events: with polling all but off, a committed batch is relayed at once."""
    producer = Runtime(REGISTRY, settings.model_copy(update={"relay_poll_interval_seconds": 60.0}))
    await producer.start(workers=True)
    try:
        await asyncio.sleep(0.3)  # the relay has drained and waits for a notification
        await copy(producer, envelopes(0, 50), envelopes(50, 50))
        assert producer.js is not None
        for _ in range(60):
            if await fetch(producer, "SELECT count(*) FROM registry.outbox") == 0:
                break
            await asyncio.sleep(0.05)
        assert await fetch(producer, "SELECT count(*) FROM registry.outbox") == 0
        assert await stream_messages(producer.js) == (0, 100)
    finally:
        await producer.stop()


async def test_the_relays_claims_read_one_batch_even_under_a_generic_plan(producer: Runtime) -> None:
    """A backlog of 50,000 events (after an outage) behind a few bulk rows: each lane's exact claim
    statement, forced to the generic plan asyncpg's statement cache gets after five runs, reads one
    batch through an index, never the whole backlog."""
    await copy(producer, envelopes(0, 10), envelopes(10, 10))
    assert producer.pool is not None
    await producer.pool.execute(
        "INSERT INTO registry.outbox (id, subject, payload) "
        "SELECT gen_random_uuid(), 'registry.area.created.v1', jsonb_build_object('n', g) FROM generate_series(1, 50000) g")
    await producer.pool.execute("ANALYZE registry.outbox")
    claims = relay(producer, batch_size=100)._select
    async with producer.pool.acquire() as conn:
        interactive = await generic_plan(conn, claims[INTERACTIVE], [])
        bulk = await generic_plan(conn, claims[BULK], [])
    for plan in (interactive, bulk):
        assert "Seq Scan" not in plan.scans["outbox"], plan.text
    assert interactive.rows_read["outbox"] <= 100 + 2, interactive.text  # the batch, past the 2 bulk rows
    assert bulk.rows_read["outbox"] <= 2, bulk.text


async def test_the_interactive_claim_walks_the_key_even_when_the_statistics_are_stale(producer: Runtime) -> None:
    """The outbox's statistics are stale more often than not.  Here they were taken when it held
    only bulk batch rows, and then a 50,000-event backlog of single rows arrived: the planner
    believes almost no row has ``batch IS NULL``.  Claimed the way the relay runs it (its
    transaction starts with BEGIN_RELAY), the interactive claim still reads one batch in key order;
    it used to read the whole outbox and sort it (47-177 ms per claim of 500 at 20,000 rows)."""
    await copy(producer, envelopes(0, 10), envelopes(10, 10))
    assert producer.pool is not None
    await producer.pool.execute("ANALYZE registry.outbox")  # statistics: every row is a batch row
    await producer.pool.execute(
        "INSERT INTO registry.outbox (id, subject, payload) "
        "SELECT gen_random_uuid(), 'registry.area.created.v1', jsonb_build_object('n', g) FROM generate_series(1, 50000) g")
    claim = relay(producer, batch_size=100)._select[INTERACTIVE]
    async with producer.pool.acquire() as conn:
        await conn.execute(BEGIN_RELAY)
        try:
            explained = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {claim}")
        finally:
            await conn.execute("ROLLBACK")
    document = json.loads(explained) if isinstance(explained, str) else explained
    plan = Plan(text=json.dumps(document, indent=1))
    walk_plan(document[0]["Plan"], plan)
    assert "Seq Scan" not in plan.scans["outbox"] and '"Sort"' not in plan.text, plan.text
    assert plan.rows_read["outbox"] <= 100 + 2, plan.text  # the batch, past the 2 bulk rows
