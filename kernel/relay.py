"""The outbox relay: publishes committed outbox rows to JetStream, at least once, in order of commit sequence.

Each batch: ``SELECT … ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED`` (n events), pipelined
``publish_async`` with ``Nats-Msg-Id`` = event id, await every PubAck, ``DELETE`` the acked
rows, ``COMMIT``.  Properties:

* **Several relays at once** (replicas, or ``concurrency`` > 1) never publish the same row
  concurrently: a locked row is skipped by the others.
* **No out-of-order-commit trap**: the relay keeps no "last id seen" cursor.  A row whose
  transaction commits late (after rows with a higher ``seq`` were already published) is
  still in the table and is picked up by the next batch.
* **Crash between publish and delete**: the rows are re-published with the same ids and
  JetStream drops them as duplicates inside the stream's duplicate window.
* **Broker outage**: unacked rows stay; the relay backs off (capped) and retries.
* **Batch rows** (``kernel.outbox.copy_event_batches``): a row may carry many events, each
  published as its own message with its own ``Nats-Msg-Id``.  A claim takes up to
  ``batch_size`` single-event rows that come before the first batch row, or, when a batch row
  is at the head, that one batch row (writers keep batches at or below ``batch_size``), so
  ``seq`` order is kept.  A row is deleted only when every one of its events got a PubAck; a
  partly acked row stays and is re-published whole, and JetStream drops the repeats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import Header

from kernel.metrics import (
    EVENT_PUBLISH_FAILURES,
    EVENTS_PUBLISH_DUPLICATES,
    EVENTS_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
)
from kernel.outbox import notify_channel

log = logging.getLogger("gramsetu.relay")
_MAX_SEQ = 2**63 - 1


class PublishIncomplete(Exception):
    """Some events of a batch got no PubAck; they stay in the outbox and are retried."""


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        schema: str,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        publish_timeout: float = 5.0,
        max_backoff: float = 30.0,
        concurrency: int = 2,
        coalesce_seconds: float = 0.003,
    ) -> None:
        self.service = service
        self.schema = schema
        self.pool = pool
        self.js = js
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.max_backoff = max_backoff
        self.concurrency = concurrency
        self.coalesce_seconds = coalesce_seconds
        self._wake = asyncio.Event()
        table = f'"{schema}".outbox'
        # Single-event rows are claimed as they always were, ``batch_size`` at a time, but only those
        # before the first batch row (found through a partial index, so the common case costs one
        # probe of an empty index); when the head of the outbox is a batch row, a claim takes one
        # batch row (writers keep a batch at or below the relay's batch size).  Other relays skip
        # what is locked, so several relays publish several batch rows at once.
        self._select_single = (
            f"SELECT id, subject, payload::text AS payload, batch, events, headers FROM {table} "
            f"WHERE seq < coalesce((SELECT min(seq) FROM {table} WHERE batch IS NOT NULL), {_MAX_SEQ}) "
            "ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
        )
        self._select_batch = (
            f"SELECT id, subject, payload::text AS payload, batch, events, headers FROM {table} "
            "WHERE batch IS NOT NULL ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        self._delete = f'DELETE FROM "{schema}".outbox WHERE id = ANY($1::uuid[])'

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many events were published (0 when the outbox is empty)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._select_single, self.batch_size)
            if not rows:
                rows = await conn.fetch(self._select_batch)
            if not rows:
                return 0
            acked = await self._publish(rows)
            if acked:
                await conn.execute(self._delete, acked)
        events = sum(row["events"] for row in rows)
        if len(acked) < len(rows):
            EVENT_PUBLISH_FAILURES.labels(self.service).inc()
            done = set(acked)
            kept = sum(row["events"] for row in rows if row["id"] not in done)
            raise PublishIncomplete(f"{len(rows) - len(acked)} of {len(rows)} outbox rows ({kept} of {events} events) "
                                    "not fully acked")
        return events

    async def _publish(self, rows: list[asyncpg.Record]) -> list[uuid.UUID]:
        """Publish every event of ``rows``, pipelined; returns the ids of the rows whose events were all acked."""
        futures: list[asyncio.Future[Any]] = []
        sent: list[tuple[int, str]] = []  # (index of the row, subject) per future
        for index, row in enumerate(rows):
            extra = _decode_headers(row["headers"]) if row["headers"] else {}
            for event_id, subject, data in _events(row):
                headers = {Header.MSG_ID: event_id, "Gramsetu-Event-Type": subject, **extra}
                futures.append(await self.js.publish_async(subject, data, headers=headers))
                sent.append((index, subject))
        done, pending = await asyncio.wait(futures, timeout=self.publish_timeout)
        for future in pending:
            future.cancel()
        complete = [True] * len(rows)
        for (index, subject), future in zip(sent, futures, strict=True):
            if future in done and not future.cancelled() and future.exception() is None:
                EVENTS_PUBLISHED.labels(self.service, subject).inc()
                if future.result().duplicate:
                    EVENTS_PUBLISH_DUPLICATES.labels(self.service).inc()
            else:
                complete[index] = False
        return [row["id"] for row, ok in zip(rows, complete, strict=True) if ok]

    async def drain(self) -> int:
        """Publish until the outbox is empty (used by tests and the CLI)."""
        total = 0
        while True:
            published = await self.publish_batch()
            total += published
            if published == 0:
                return total

    def wake(self, *_: Any) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop))
        workers = [asyncio.create_task(self._work(stop)) for _ in range(self.concurrency)]
        gauges = asyncio.create_task(self._refresh_gauges(stop))
        try:
            await stop.wait()
        finally:
            for task in (listener, gauges, *workers):
                task.cancel()
            await asyncio.gather(listener, gauges, *workers, return_exceptions=True)

    async def _work(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                published = await self.publish_batch()
                backoff = 0.1
            except Exception as exc:
                log.warning("relay batch failed (%s: %s); retrying in %.1fs", type(exc).__name__, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if published < self.batch_size:  # caught up: sleep until woken or the next poll
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
                except asyncio.TimeoutError:
                    continue
                if self.coalesce_seconds:
                    # Under a stream of small commits, wait a moment so one batch carries
                    # several events: far fewer round trips for a few ms of latency.
                    await asyncio.sleep(self.coalesce_seconds)

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for commit-time notifications; reconnects, since NOTIFY is not replayed."""
        channel = notify_channel(self.schema)
        while not stop.is_set():
            try:
                conn = await self.pool.acquire()
                try:
                    await conn.add_listener(channel, self.wake)
                    self.wake()  # anything committed while we were not listening
                    while not conn.is_closed():  # noqa: ASYNC110 (asyncpg has no "closed" event)
                        await asyncio.sleep(1.0)
                finally:
                    if not conn.is_closed():
                        await conn.remove_listener(channel, self.wake)
                    await self.pool.release(conn)
            except Exception as exc:
                log.info("relay listener reconnecting (%s)", type(exc).__name__)
                await asyncio.sleep(1.0)

    async def backlog(self) -> tuple[int, float]:
        row = await self.pool.fetchrow(
            "SELECT coalesce(sum(events), 0) AS n, extract(epoch FROM clock_timestamp() - min(created_at)) AS age "
            f'FROM "{self.schema}".outbox'
        )
        assert row is not None
        return int(row["n"]), float(row["age"] or 0.0)

    async def _refresh_gauges(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                count, age = await self.backlog()
                OUTBOX_BACKLOG.labels(self.service).set(count)
                OUTBOX_OLDEST_AGE.labels(self.service).set(age)
            except Exception as exc:
                log.debug("outbox gauges not refreshed: %s", exc)
            await asyncio.sleep(5.0)


def _events(row: asyncpg.Record) -> Iterator[tuple[str, str, bytes]]:
    """(msg id, subject, data) of each event a claimed row carries: one, or one per batch line."""
    if row["batch"] is None:
        yield str(row["id"]), row["subject"], row["payload"].encode()
        return
    for line in row["batch"].split("\n"):
        event_id, subject, envelope = line.split("\t", 2)
        yield event_id, subject, envelope.encode()


def _decode_headers(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return {str(k): str(v) for k, v in raw.items()}

