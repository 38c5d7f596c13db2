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
* **Awake or asleep** (the interactive lane): a relay that found events in the last
  ``awake_seconds`` polls every ``awake_poll_seconds`` by itself and holds the advisory lock that
  tells writers not to notify (kernel.outbox.notify_unless_awake: a notify per write serialised
  concurrent commits cluster-wide); asleep, it waits for a commit notification or
  ``poll_interval``.  After lowering the flag it keeps polling ``awake_grace_seconds`` more, for a
  writer that checked the flag just before; one that commits later still is picked up by the
  next poll (``poll_interval``) or notification, never lost.
* **Broker outage**: unacked rows stay; while NATS is disconnected the relay claims nothing; a
  failed batch backs off (capped at ``max_backoff``, 2 s by default, and cut short by the next
  commit notification), so events flow within seconds of PostgreSQL or NATS coming back.
* **Every wait is bounded**: a publish slot, each PubAck and the whole batch have deadlines
  (``publish_timeout``), and so has every database wait (``db_timeout``): taking a pooled
  connection, BEGIN, the claim, the delete, COMMIT, giving the connection back, the listener and
  the gauges.  A wait that runs out ends the connection (it is never reused, whatever the server
  was doing) and the transaction counts as not done: its rows are claimed and published again,
  and JetStream's duplicate window (or, past it, the inbox) absorbs the repeats; if the COMMIT
  did land after all, the rows are simply gone.  Before, a COMMIT that never got an answer (a
  stopped server or backend, a half-open connection) held a relay worker for good.  Any
  per-message publish exception counts as "not acked" (kernel.bus works around
  nats-py leaking a pending slot on a failed send and hiding JetStream error replies).  The reason
  (``timeout``, ``storage_full``, ``too_large``, ``api_<code>``...) is logged and counted in
  ``gramsetu_event_publish_errors_total``.
* **Poison rows**: a row that fails for a reason of its own (over the size limit, a corrupt batch
  line, refused by the stream, or unacked while the rest of its batch was acked) gets
  ``attempts`` + 1 and ``last_error``, while the rows behind it are published; after
  ``max_attempts`` it moves to ``outbox_quarantine`` (metric, alert, ``gramsetu outbox
  list|retry|drop``).  Outages (disconnected, timeouts of a whole batch, storage full) never count.
* **Two lanes**: interactive workers claim single-event rows only, bulk workers claim batch rows
  only, so a 1M-person import never delays a ticket or payment event written after it.  The bulk
  lane publishes to the service's bulk stream (``bulk.<subject>``, ``<SERVICE>_BULK``), where each
  consumer reads it with a fetch loop of its own (kernel.consumer), so the separation holds up to
  the consumers' effects, not just to JetStream.
* **Duplicate window**: a row older than the stream's duplicate window may be stored twice if it
  was published before (lost ack, crash before the delete); the inbox absorbs such repeats.
  ``gramsetu_outbox_oldest_event_age_seconds`` is alerted at half the window.
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
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import Header

from contracts.base import bulk_subject
from kernel.bus import harden_jetstream, publish_async
from kernel.metrics import (
    EVENT_PUBLISH_ERRORS,
    EVENT_PUBLISH_FAILURES,
    EVENTS_PUBLISH_DUPLICATES,
    EVENTS_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_DUPLICATE_WINDOW,
    OUTBOX_OLDEST_AGE,
    OUTBOX_QUARANTINE_ROWS,
    OUTBOX_QUARANTINED,
    RELAY_DATABASE_TIMEOUTS,
)
from kernel.outbox import AWAKE_LOCK_CLASS, BULK_NOTIFY, notify_channel

log = logging.getLogger("gramsetu.relay")

INTERACTIVE = "interactive"
BULK = "bulk"
# Reasons that say nothing about the row itself (the broker or the network): never counted as attempts.
OUTAGE_REASONS = frozenset({"timeout", "disconnected", "stalled", "storage_full", "no_stream", "unavailable"})
# An awake relay holds this session advisory lock (arguments: AWAKE_LOCK_CLASS, the notify channel);
# writers notify only when nobody holds it (kernel.outbox.notify_unless_awake).
# Every relay transaction starts with this (one round trip).  The outbox is a queue: its statistics
# are stale more often than not (a fresh backlog after an outage, a bulk import's batch rows before
# a flood of single ones), and with a low estimate for "batch IS NULL" the planner read the whole
# outbox and sorted it to claim a batch: a seq scan and an on-disk sort, 47-177 ms per claim of 500
# from a 20,000-row backlog (the events bench's relay workers spent 45% of their time there), against 0.9 ms
# walking the primary key in seq order.  No claim or other relay statement needs a sort.
BEGIN_RELAY = "BEGIN; SET LOCAL enable_sort = off"
RAISE_AWAKE_FLAG = "SELECT pg_try_advisory_lock($1, hashtext($2))"
LOWER_AWAKE_FLAG = "SELECT pg_advisory_unlock($1, hashtext($2))"


class PublishIncomplete(Exception):
    """Some events of a batch got no PubAck; they stay in the outbox and are retried."""


def publish_error_reason(error: BaseException) -> str:
    """A short, label-safe reason for an event JetStream did not acknowledge."""
    if isinstance(error, (asyncio.TimeoutError, asyncio.CancelledError, nats.errors.TimeoutError)):
        return "timeout"
    if isinstance(error, nats.errors.MaxPayloadError):
        return "too_large"
    if isinstance(error, nats.js.errors.TooManyStalledMsgsError):
        return "stalled"
    if isinstance(error, (nats.errors.OutboundBufferLimitError, nats.errors.ConnectionClosedError,
                          nats.errors.ConnectionReconnectingError, nats.errors.NoServersError,
                          nats.errors.ConnectionDrainingError, OSError)):
        return "disconnected"
    if isinstance(error, (nats.js.errors.NoStreamResponseError, nats.errors.NoRespondersError)):
        return "no_stream"
    if isinstance(error, nats.js.errors.APIError):
        text = f"{error.description or ''}".lower()
        if "maximum bytes" in text or "insufficient resources" in text or "storage" in text:
            return "storage_full"
        if "message size" in text or "maximum payload" in text:
            return "too_large"
        if error.code == 503:
            return "unavailable"
        return f"api_{error.err_code or error.code}"
    if isinstance(error, ValueError):
        return "corrupt"
    return type(error).__name__.lower()


@dataclass
class _BatchResult:
    acked: list[uuid.UUID] = field(default_factory=list)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)  # row id -> reason
    details: dict[str, str] = field(default_factory=dict)  # reason -> one full error text, for the log
    events_acked: int = 0


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
        max_backoff: float = 2.0,
        concurrency: int = 2,
        bulk_concurrency: int = 1,
        coalesce_seconds: float = 0.003,
        max_attempts: int = 5,
        duplicate_window: float = 600.0,
        awake_seconds: float = 0.5,
        awake_poll_seconds: float = 0.005,
        awake_grace_seconds: float = 0.05,
        db_timeout: float = 15.0,
    ) -> None:
        self.service = service
        self.schema = schema
        self.pool = pool
        self.js = harden_jetstream(js)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.max_backoff = max_backoff
        self.concurrency = concurrency
        self.bulk_concurrency = bulk_concurrency
        self.coalesce_seconds = coalesce_seconds
        self.max_attempts = max_attempts
        self.duplicate_window = duplicate_window
        self.awake_seconds = awake_seconds
        self.awake_poll_seconds = awake_poll_seconds
        self.awake_grace_seconds = awake_grace_seconds
        self.db_timeout = db_timeout
        self._wake = {INTERACTIVE: asyncio.Event(), BULK: asyncio.Event()}
        self._found_at = -1e9  # monotonic time the interactive lane last published something
        self._lowered_at = -1e9
        self._listener: asyncpg.Connection | None = None  # holds LISTEN and, while awake, the flag
        self._flag_lock = asyncio.Lock()
        self.flag_raised = False
        self._flag_key = (AWAKE_LOCK_CLASS, notify_channel(schema))
        table = f'"{schema}".outbox'
        columns = "id, subject, payload::text AS payload, batch, events, headers, attempts"
        # LIMIT is a literal: a prepared statement's generic plan (after five runs) assumes a
        # parameter LIMIT fetches 10% of the table and may sort a whole backlog to claim a batch.
        self._select = {
            INTERACTIVE: f"SELECT {columns} FROM {table} WHERE batch IS NULL ORDER BY seq LIMIT {int(batch_size)} "
                         "FOR UPDATE SKIP LOCKED",
            # One batch row per claim (a row is never split; writers keep it at or below batch_size).
            BULK: f"SELECT {columns} FROM {table} WHERE batch IS NOT NULL ORDER BY seq LIMIT 1 "
                  "FOR UPDATE SKIP LOCKED",
        }
        self._delete = f"DELETE FROM {table} WHERE id = ANY($1::uuid[])"
        self._count_attempt = (
            f"UPDATE {table} AS o SET attempts = o.attempts + 1, last_error = f.reason "
            "FROM unnest($1::uuid[], $2::text[]) AS f(id, reason) WHERE o.id = f.id RETURNING o.id, o.attempts"
        )
        self._quarantine = (
            f"WITH moved AS (DELETE FROM {table} WHERE id = ANY($1::uuid[]) RETURNING *) "
            f'INSERT INTO "{schema}".outbox_quarantine '
            "(id, seq, subject, payload, batch, events, headers, created_at, attempts, last_error) "
            "SELECT id, seq, subject, payload, batch, events, headers, created_at, attempts, last_error FROM moved"
        )

    async def publish_batch(self, lane: str | None = None) -> int:
        """Publish one batch (interactive lane first, then bulk, unless ``lane`` is given); returns
        how many events were published (0 when there was nothing to publish)."""
        for current in (lane,) if lane else (INTERACTIVE, BULK):
            published = await self._publish_lane(current)
            if published:
                return published
        return 0

    async def _publish_lane(self, lane: str) -> int:
        t = self.db_timeout
        async with self._transaction() as conn:
            rows = await conn.fetch(self._select[lane], timeout=t)
            if not rows:
                return 0
            result = await self._publish(rows)
            if result.acked:
                await conn.execute(self._delete, result.acked, timeout=t)
            if result.failed:
                await self._record_failures(conn, result)
        if result.failed:
            EVENT_PUBLISH_FAILURES.labels(self.service).inc()
            raise PublishIncomplete(
                f"{len(result.failed)} of {len(rows)} outbox rows not fully acked "
                f"({_reasons(result.failed)}): {'; '.join(f'{k}: {v}' for k, v in result.details.items())}")
        return result.events_acked

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, taken and given back within ``db_timeout``; a wait that runs out ends it."""
        conn = await self.pool.acquire(timeout=self.db_timeout)
        try:
            yield conn
        except BaseException as error:
            if _is_timeout(error) and not conn.is_closed():
                RELAY_DATABASE_TIMEOUTS.labels(self.service, "statement").inc()
                conn.terminate()  # its state is unknown: never reused
            raise
        finally:
            # asyncpg ends a connection whose reset (if the pool has one) or earlier cancelled query
            # does not finish within the timeout.
            try:
                await self.pool.release(conn, timeout=self.db_timeout)
            except (Exception, asyncio.CancelledError) as error:
                if _is_timeout(error):
                    RELAY_DATABASE_TIMEOUTS.labels(self.service, "release").inc()
                log.warning("relay %s: a connection was ended on release (%s)", self.service, type(error).__name__)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """BEGIN … COMMIT with every statement bounded by ``db_timeout``.

        asyncpg's ``conn.transaction()`` sends its COMMIT and ROLLBACK without a timeout, so a
        server that stopped answering (SIGSTOP, a frozen VM, a half-open connection after a restart)
        held the worker, its pooled connection and, through the session, its row locks, for good.
        A statement or COMMIT that times out ends the connection, and the transaction counts as not
        done: the server rolls back what it had not committed, the rows are published again and the
        duplicate window absorbs the repeats (if the COMMIT did land, the rows are simply gone).
        """
        t = self.db_timeout
        async with self._connection() as conn:
            await conn.execute(BEGIN_RELAY, timeout=t)
            try:
                yield conn
            except BaseException as error:
                if _is_timeout(error) and not conn.is_closed():
                    RELAY_DATABASE_TIMEOUTS.labels(self.service, "statement").inc()
                if _is_timeout(error) or isinstance(error, asyncio.CancelledError) or conn.is_closed():
                    conn.terminate()  # a ROLLBACK would first wait for the cancelled statement
                    raise
                try:
                    await conn.execute("ROLLBACK", timeout=t)
                except (Exception, asyncio.CancelledError):
                    conn.terminate()
                raise
            try:
                await conn.execute("COMMIT", timeout=t)
            except (asyncio.TimeoutError, TimeoutError):
                RELAY_DATABASE_TIMEOUTS.labels(self.service, "commit").inc()
                log.warning("relay %s: COMMIT got no answer within %.1fs; the connection is ended and its "
                            "rows will be published again (JetStream drops the repeats)", self.service, t)
                conn.terminate()
                raise

    async def _record_failures(self, conn: asyncpg.Connection, result: _BatchResult) -> None:
        """Count an attempt against each row that failed for a reason of its own; quarantine the hopeless."""
        own = {row_id: reason for row_id, reason in result.failed.items()
               if reason not in OUTAGE_REASONS or (reason == "timeout" and result.acked)}
        if not own:
            return
        counted = await conn.fetch(self._count_attempt, list(own), [own[i] for i in own], timeout=self.db_timeout)
        hopeless = [row["id"] for row in counted if row["attempts"] >= self.max_attempts]
        if hopeless:
            await conn.execute(self._quarantine, hopeless, timeout=self.db_timeout)
            OUTBOX_QUARANTINED.labels(self.service).inc(len(hopeless))
            log.error("relay %s: %d outbox rows quarantined after %d failed attempts (%s); "
                      "see `gramsetu outbox list`", self.service, len(hopeless), self.max_attempts,
                      _reasons({i: own[i] for i in hopeless}))

    async def _publish(self, rows: list[asyncpg.Record]) -> _BatchResult:
        """Publish every event of ``rows``, pipelined, within one deadline; every exception is "not acked"."""
        deadline = time.monotonic() + self.publish_timeout
        result = _BatchResult()
        sent: list[tuple[uuid.UUID, str, asyncio.Future[Any]]] = []
        broken: str | None = None  # after a disconnect, the rest of the batch is not even tried
        for row in rows:
            row_id = row["id"]
            try:
                events = list(_events(row))
                extra = _decode_headers(row["headers"]) if row["headers"] not in (None, "{}") else {}
            except (ValueError, TypeError) as error:
                self._fail(result, row_id, error)
                continue
            for event_id, subject, data in events:
                if broken:
                    result.failed.setdefault(row_id, broken)
                    break
                headers = {Header.MSG_ID: event_id, "Gramsetu-Event-Type": subject, **extra}
                try:
                    future = await publish_async(self.js, _wire_subject(row, subject), data, headers=headers,
                                                 timeout=max(deadline - time.monotonic(), 0.001))
                except Exception as error:
                    reason = self._fail(result, row_id, error)
                    if reason in ("disconnected", "stalled"):
                        broken = reason
                    break
                sent.append((row_id, subject, future))
        await self._collect(sent, result, deadline)
        result.acked = [row["id"] for row in rows if row["id"] not in result.failed]
        return result

    async def _collect(self, sent: list[tuple[uuid.UUID, str, asyncio.Future[Any]]], result: _BatchResult,
                       deadline: float) -> None:
        if sent:
            _, pending = await asyncio.wait([f for _, _, f in sent], timeout=max(deadline - time.monotonic(), 0))
            for future in pending:
                future.cancel()  # returns its pending slot
        published: Counter[str] = Counter()  # metrics once per subject and batch, not per event
        duplicates = 0
        for row_id, subject, future in sent:
            error = future.exception() if not future.cancelled() else asyncio.TimeoutError()
            if error is not None:
                self._fail(result, row_id, error)
                continue
            published[subject] += 1
            if future.result().duplicate:
                duplicates += 1
        for subject, count in published.items():
            EVENTS_PUBLISHED.labels(self.service, subject).inc(count)
        result.events_acked += sum(published.values())
        if duplicates:
            EVENTS_PUBLISH_DUPLICATES.labels(self.service).inc(duplicates)

    def _fail(self, result: _BatchResult, row_id: uuid.UUID, error: BaseException) -> str:
        reason = publish_error_reason(error)
        EVENT_PUBLISH_ERRORS.labels(self.service, reason).inc()
        result.failed.setdefault(row_id, reason)
        result.details.setdefault(reason, f"{type(error).__name__}: {error}"[:300])
        return reason

    async def drain(self) -> int:
        """Publish until the outbox is empty (used by tests and the CLI)."""
        total = 0
        while True:
            published = await self.publish_batch()
            total += published
            if published == 0:
                return total

    def wake(self, *args: Any) -> None:
        """Wake the lanes: a notification (connection, pid, channel, payload) with payload ``bulk``
        wakes only the bulk lane (a COPY of batch rows), any other only the interactive lane (so
        the bulk worker does not run an empty claim per interactive commit); no arguments wakes both."""
        if len(args) == 4:
            self._wake[BULK if args[3] == BULK_NOTIFY else INTERACTIVE].set()
            return
        for event in self._wake.values():
            event.set()

    async def run(self, stop: asyncio.Event) -> None:
        # Each loop is watched: one that ends before ``stop`` (an exception outside its own handling,
        # a stray cancellation) is logged with its reason and started again.  Before, ``run`` only
        # waited for ``stop``: after a PostgreSQL restart a relay was seen with its interactive
        # workers gone and the outbox left unpublished (tests/failure, the outage drill).
        loops: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "listener": lambda: self._listen(stop),
            "gauges": lambda: self._refresh_gauges(stop),
            **{f"interactive-{n}": (lambda: self._work(stop, INTERACTIVE)) for n in range(self.concurrency)},
            **{f"bulk-{n}": (lambda: self._work(stop, BULK)) for n in range(self.bulk_concurrency)},
        }
        tasks: dict[asyncio.Task[Any], str] = {asyncio.create_task(start()): name for name, start in loops.items()}
        stopping: asyncio.Task[Any] = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
                for task in done - {stopping}:
                    name = tasks.pop(task)
                    if stop.is_set():
                        continue
                    reason = "cancelled" if task.cancelled() else repr(task.exception())
                    log.error("relay %s: its %s loop ended (%s); starting it again", self.service, name, reason)
                    await asyncio.sleep(0.1)
                    tasks[asyncio.create_task(loops[name]())] = name
        finally:
            for task in (stopping, *tasks):
                task.cancel()
            await asyncio.gather(stopping, *tasks, return_exceptions=True)

    async def _work(self, stop: asyncio.Event, lane: str) -> None:
        backoff = 0.1
        wake = self._wake[lane]
        while not stop.is_set():
            if not self.js._nc.is_connected:
                # Claiming rows now would only fill the reconnect buffer and hold row locks.
                await asyncio.sleep(0.1)
                continue
            try:
                published = await self._publish_lane(lane)
                backoff = 0.1
            except Exception as exc:
                log.warning("relay %s %s batch failed (%s: %s); retrying in %.1fs",
                            self.service, lane, type(exc).__name__, exc, backoff)
                # Capped, and cut short by a commit notification: after an outage events flow again
                # within a couple of seconds of recovery, not after a long backoff.
                wake.clear()
                await _wait(wake, backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if lane == INTERACTIVE:
                await self._after_interactive_claim(stop, published)
                continue
            # Caught up: sleep until woken or the next poll.  (A bulk claim is one batch row, so
            # only an empty claim means the bulk lane is caught up.)
            if published == 0:
                wake.clear()
                await _wait(wake, self.poll_interval)

    async def _after_interactive_claim(self, stop: asyncio.Event, published: int) -> None:
        """Claim again at once (a full batch), soon (awake), or when woken (asleep)."""
        now = time.monotonic()
        if published:
            self._found_at = now
            await self._raise_flag()
        if published >= self.batch_size:
            return
        if now - self._found_at < self.awake_seconds or now - self._lowered_at < self.awake_grace_seconds:
            await _wait(stop, self.awake_poll_seconds)
            return
        if self.flag_raised:
            await self._lower_flag()
            return
        wake = self._wake[INTERACTIVE]
        wake.clear()
        if await _wait(wake, self.poll_interval) and self.coalesce_seconds:
            # Under a stream of small commits, wait a moment so one batch carries
            # several events: far fewer round trips for a few ms of latency.
            await asyncio.sleep(self.coalesce_seconds)

    async def _raise_flag(self) -> None:
        """Tell writers a relay is awake (they stop notifying); best effort, on the listener's session."""
        if self.flag_raised or self._listener is None:
            return
        async with self._flag_lock:
            conn = self._listener
            if self.flag_raised or conn is None or conn.is_closed():
                return
            try:
                self.flag_raised = bool(await conn.fetchval(RAISE_AWAKE_FLAG, *self._flag_key, timeout=2))
            except Exception as exc:  # writers keep notifying: slower, never wrong
                log.debug("relay %s: awake flag not raised: %s", self.service, exc)

    async def _lower_flag(self) -> None:
        async with self._flag_lock:
            conn, self.flag_raised = self._listener, False
            self._lowered_at = time.monotonic()
            if conn is None or conn.is_closed():
                return
            try:
                await conn.fetchval(LOWER_AWAKE_FLAG, *self._flag_key, timeout=2)
            except Exception as exc:  # the session is gone, and its lock with it
                log.debug("relay %s: awake flag not lowered: %s", self.service, exc)

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for commit-time notifications; reconnects, since NOTIFY is not replayed."""
        channel = notify_channel(self.schema)
        while not stop.is_set():
            try:
                conn = await self.pool.acquire(timeout=self.db_timeout)
                try:
                    await asyncio.wait_for(conn.add_listener(channel, self.wake), self.db_timeout)
                    self._listener = conn
                    self.wake()  # anything committed while we were not listening
                    while not conn.is_closed():  # noqa: ASYNC110 (asyncpg has no "closed" event)
                        await asyncio.sleep(1.0)
                finally:
                    if self.flag_raised:
                        await self._lower_flag()
                    self._listener = None
                    # Ended, not handed back: its LISTEN and (should lowering have failed) the awake
                    # flag's session lock never reach another user of the pool, so the relay's pool
                    # needs no session reset on release (kernel.runtime: one round trip less per batch).
                    conn.terminate()
                    await self.pool.release(conn, timeout=self.db_timeout)
            except Exception as exc:
                log.info("relay listener reconnecting (%s)", type(exc).__name__)
                await asyncio.sleep(1.0)

    async def backlog(self) -> tuple[int, float]:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT coalesce(sum(events), 0) AS n, extract(epoch FROM clock_timestamp() - min(created_at)) AS age "
                f'FROM "{self.schema}".outbox', timeout=self.db_timeout)
        assert row is not None
        return int(row["n"]), float(row["age"] or 0.0)

    async def quarantined(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(f'SELECT count(*) FROM "{self.schema}".outbox_quarantine',
                                           timeout=self.db_timeout))

    async def _refresh_gauges(self, stop: asyncio.Event) -> None:
        OUTBOX_DUPLICATE_WINDOW.labels(self.service).set(self.duplicate_window)
        while not stop.is_set():
            try:
                count, age = await self.backlog()
                OUTBOX_BACKLOG.labels(self.service).set(count)
                OUTBOX_OLDEST_AGE.labels(self.service).set(age)
                OUTBOX_QUARANTINE_ROWS.labels(self.service).set(await self.quarantined())
            except Exception as exc:
                log.debug("outbox gauges not refreshed: %s", exc)
            await asyncio.sleep(5.0)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """True when ``event`` was set within ``timeout``."""
    try:
        await asyncio.wait_for(event.wait(), timeout=timeout)
    except asyncio.TimeoutError:
        return False
    return True


def _is_timeout(error: BaseException) -> bool:
    return isinstance(error, (asyncio.TimeoutError, TimeoutError))


def _reasons(failed: dict[uuid.UUID, str]) -> str:
    return ", ".join(f"{reason} x{n}" for reason, n in Counter(failed.values()).most_common())


def _events(row: asyncpg.Record) -> Iterator[tuple[str, str, bytes]]:
    """(msg id, subject, data) of each event a claimed row carries: one, or one per batch line.

    Raises ``ValueError`` for a corrupt batch line (the row is then failed, not the batch)."""
    if row["batch"] is None:
        yield str(row["id"]), row["subject"], row["payload"].encode()
        return
    for line in row["batch"].split("\n"):
        event_id, subject, envelope = line.split("\t", 2)
        uuid.UUID(event_id)
        yield event_id, subject, envelope.encode()


def _wire_subject(row: asyncpg.Record, subject: str) -> str:
    """A batch row's events go to the service's bulk stream (``bulk.<subject>``), single rows' to its own."""
    return subject if row["batch"] is None else bulk_subject(subject)


def _decode_headers(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return {str(k): str(v) for k, v in raw.items()}
