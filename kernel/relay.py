"""The outbox relay: publishes committed outbox rows to JetStream, at least once, in order of commit sequence.

Each batch: ``SELECT … ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED``, pipelined
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
"""

from __future__ import annotations

import asyncio
import logging
import uuid
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
        self._select = (
            f'SELECT id, subject, payload::text AS payload, headers FROM "{schema}".outbox '
            "ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
        )
        self._delete = f'DELETE FROM "{schema}".outbox WHERE id = ANY($1::uuid[])'

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many events were published (0 when the outbox is empty)."""
        failed = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._select, self.batch_size)
            if not rows:
                return 0
            acked = await self._publish(rows)
            failed = len(rows) - len(acked)
            if acked:
                await conn.execute(self._delete, acked)
        if failed:
            EVENT_PUBLISH_FAILURES.labels(self.service).inc()
            raise PublishIncomplete(f"{failed} of {len(rows)} events got no PubAck")
        return len(rows)

    async def _publish(self, rows: list[asyncpg.Record]) -> list[uuid.UUID]:
        futures: list[asyncio.Future[Any]] = []
        for row in rows:
            headers = {Header.MSG_ID: str(row["id"]), "Gramsetu-Event-Type": row["subject"]}
            extra = row["headers"]
            if extra:
                headers.update(_decode_headers(extra))
            futures.append(await self.js.publish_async(row["subject"], row["payload"].encode(), headers=headers))
        done, pending = await asyncio.wait(futures, timeout=self.publish_timeout)
        for future in pending:
            future.cancel()
        acked: list[uuid.UUID] = []
        for row, future in zip(rows, futures, strict=True):
            if future in done and not future.cancelled() and future.exception() is None:
                acked.append(row["id"])
                EVENTS_PUBLISHED.labels(self.service, row["subject"]).inc()
                if future.result().duplicate:
                    EVENTS_PUBLISH_DUPLICATES.labels(self.service).inc()
        return acked

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
            "SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(created_at)) AS age "
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


def _decode_headers(raw: Any) -> dict[str, str]:
    import json

    if isinstance(raw, str):
        raw = json.loads(raw)
    return {str(k): str(v) for k, v in raw.items()}

