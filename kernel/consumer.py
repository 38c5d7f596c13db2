"""Idempotent JetStream consumers: durable pull consumer + inbox table + ack after commit.

For each fetched batch, one database transaction:

1. ``INSERT INTO inbox (consumer, event_id) SELECT … unnest(ids) ON CONFLICT DO NOTHING
   RETURNING event_id`` — an id back means "first time": apply the handler; an id missing
   means a redelivery or a replay, skip it.
2. Commit, then ack.  A crash before the ack only causes a redelivery, which step 1 absorbs.
3. A handler error rolls the batch back and the batch is redone with one savepoint per
   message, so only the failing message is NAKed (with the next backoff delay).  On its
   last allowed delivery (``MaxDeliver``) it is parked in the ``DLQ`` stream with the
   error and acked, so it stops blocking and can be replayed once fixed.
   A lost database connection is not a handler error: the batch is left unacked and the
   consumer stops fetching until the database answers, so an outage cannot exhaust
   deliveries.
4. A message that cannot be parsed (unknown type, contract violation) is parked at once:
   retrying cannot help.

**Two lanes.** Each subscription reads its subject from the service's stream and the same
subject's bulk copy (``bulk.<subject>`` in ``<SERVICE>_BULK``: events written as outbox batch
rows, e.g. a 1M-person import) through two durable consumers of the same name, with fetch
loops of their own, so an interactive event is never queued behind a bulk batch.  Both lanes
share the inbox, the entity versions and the DLQ address (the consumer's name): an entity's
bulk event that arrives after a newer interactive one is skipped by an ``ordered`` handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StatusCode
from nats.js.errors import FetchTimeoutError, NotFoundError
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.base import EVENT_TYPES, Envelope, Event, bulk_subject, stream_for_subject
from kernel.context import request_id_var
from kernel.db import bounded_transaction
from kernel.dlq import H_REPLAY_FOR, park
from kernel.metrics import (
    CONSUMER_ACK_PENDING,
    CONSUMER_LAG,
    EVENT_HANDLE_DURATION,
    EVENT_REDELIVERIES,
    EVENTS_CONSUMED,
)

log = logging.getLogger("gramsetu.consumer")

Handler = Callable[[AsyncSession, Event, Envelope], Awaitable[None]]
# Applies a batch's new events at once (one statement for the lot instead of one per event).
BatchHandler = Callable[[AsyncSession, list[tuple[Event, Envelope]]], Awaitable[None]]

INTERACTIVE = "interactive"
BULK = "bulk"
READY_REPLY_TIMEOUT = 1.0  # the server answers a no-wait pull at once; this only bounds a lost reply


class _HandlerFailed(Exception):
    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


@dataclass(frozen=True)
class Subscription:
    """A durable consumer of one subject filter, applying ``handler`` once per event."""

    name: str  # durable name, unique per service: "<service>-<purpose>"
    subject: str  # filter subject, e.g. "registry.area.*.v1"
    handler: Handler
    # Apply each entity's versions in order: an event whose envelope carries an entity version not
    # newer than the last one this consumer applied for that entity is skipped (outcome "stale").
    ordered: bool = False
    # Optional, for unordered subscriptions: what ``handler`` does, for all the new events of a batch
    # in one go.  The fast path uses it; when it fails, the batch is redone event by event with
    # ``handler`` (so only the failing event is retried or parked).
    batch_handler: BatchHandler | None = None

    @property
    def stream(self) -> str:
        return stream_for_subject(self.subject)


@dataclass(frozen=True)
class _Lane:
    """Where one lane of a subscription reads: stream, filter subject, and its label in metrics."""

    name: str
    stream: str
    subject: str
    label: str


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        schema: str,
        subscription: Subscription,
        sessionmaker: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        batch_size: int = 200,
        max_deliver: int = 6,
        backoff: list[float] | None = None,
        ack_wait: float = 30.0,
        concurrency: int = 2,
        lock_timeout: float = 5.0,
        max_replicas: int = 1,
        batch_time_cap: float | None = None,
        bulk_concurrency: int = 1,
        commit_timeout: float | None = 15.0,
        statement_timeout: float | None = 35.0,
        linger: float = 0.02,
    ) -> None:
        self.service = service
        self.schema = schema
        self.sub_spec = subscription
        self.sessionmaker = sessionmaker
        self.js = js
        self.batch_size = batch_size
        self.max_deliver = max_deliver
        self.backoff = backoff or [1.0, 5.0, 15.0, 60.0, 300.0]
        self.ack_wait = ack_wait
        self.concurrency = concurrency
        self.bulk_concurrency = bulk_concurrency
        self.linger = linger  # a caught-up batch waits up to this long (from its first event's store) to fill
        # A lane's fetch loops take turns to fetch (each applies its batch after its turn, so one
        # commits while the next fetches): concurrent fetches would split each lingering batch in two.
        self._turns = {INTERACTIVE: asyncio.Lock(), BULK: asyncio.Lock()}
        self.max_replicas = max_replicas
        self.commit_timeout = commit_timeout  # a COMMIT not answered by then: the batch is left unacked
        self.statement_timeout = statement_timeout  # likewise any other statement of a batch
        bulk = bulk_subject(subscription.subject)
        self.lanes = {
            INTERACTIVE: _Lane(INTERACTIVE, subscription.stream, subscription.subject, subscription.name),
            BULK: _Lane(BULK, stream_for_subject(bulk), bulk, f"{subscription.name}:bulk"),
        }
        # A batch commits at least this often, so applied events are acked long before AckWait.
        self.batch_time_cap = batch_time_cap if batch_time_cap is not None else max(ack_wait / 3, 0.05)
        self._psub: Any = None  # the subscriptions poll() uses (tests, CLI)
        self._bulk_psub: Any = None
        self._subs: set[Any] = set()  # every open pull subscription, closed on shutdown
        self._claim = text(
            f'INSERT INTO "{schema}".inbox (consumer, event_id) VALUES (:consumer, :event_id) '
            "ON CONFLICT DO NOTHING RETURNING 1"
        )
        # The batch's first statement also sets the transaction's lock_timeout (set_config in the same
        # statement, no extra round trip): a claim blocked behind a stuck session's inbox row fails
        # fast and the batch is redelivered, instead of waiting as long as that session lives.
        self._claim_many = text(
            f'INSERT INTO "{schema}".inbox (consumer, event_id) '
            "SELECT :consumer, id FROM (SELECT set_config('lock_timeout', :lock_timeout, true)) AS cfg, "
            "unnest(CAST(:ids AS uuid[])) AS id ON CONFLICT DO NOTHING RETURNING event_id"
        )
        self.lock_timeout_ms = str(int(lock_timeout * 1000))
        self._unclaim = text(
            f'DELETE FROM "{schema}".inbox WHERE consumer = :consumer AND event_id = ANY(CAST(:ids AS uuid[]))')
        self._advance_version = text(
            f'INSERT INTO "{schema}".entity_version (consumer, entity, version) VALUES (:consumer, :entity, :version) '
            "ON CONFLICT (consumer, entity) DO UPDATE SET version = EXCLUDED.version, updated_at = clock_timestamp() "
            f'WHERE "{schema}".entity_version.version < EXCLUDED.version RETURNING 1')

    @property
    def name(self) -> str:
        return self.sub_spec.name

    def consumer_config(self, lane: str = INTERACTIVE) -> ConsumerConfig:
        # BackOff drives redelivery after an ack timeout (e.g. the process died mid-batch);
        # NAK delays below drive redelivery after a handler error.  NATS requires
        # MaxDeliver > len(BackOff).
        backoff = self.backoff[: max(self.max_deliver - 1, 1)]
        return ConsumerConfig(
            durable_name=self.name,
            filter_subject=self.lanes[lane].subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait,
            backoff=[max(b, self.ack_wait) for b in backoff] if backoff else None,
            # Every replica the autoscaler may start runs ``concurrency`` fetch loops, each holding up to
            # a batch unacked; a fixed 1000 would cap throughput however many pods are added.
            max_ack_pending=max(1000, self.batch_size * self.concurrency * self.max_replicas * 2),
        )

    async def _pull_subscribe(self, lane: str = INTERACTIVE) -> Any:
        where = self.lanes[lane]
        psub = await self.js.pull_subscribe(
            where.subject, durable=self.name, stream=where.stream, config=self.consumer_config(lane)
        )
        self._subs.add(psub)
        return psub

    async def subscribe(self) -> None:
        """Create (or bind) the durable consumers of both lanes."""
        self._psub = await self._pull_subscribe()
        try:
            self._bulk_psub = await self._pull_subscribe(BULK)
        except NotFoundError:  # a stream set up by hand without its bulk twin (kernel.bus declares both)
            log.warning("consumer %s: no stream %s; bulk events are not read", self.name, self.lanes[BULK].stream)

    async def poll(self, timeout: float = 1.0) -> int:
        """Fetch and apply one batch from either lane, waiting up to ``timeout`` (in turns of at most
        50 ms per lane); returns the number of messages fetched.  For tests and tools: a running
        service uses :meth:`run`, whose lanes have fetch loops of their own."""
        if self._psub is None:
            await self.subscribe()
        deadline = time.monotonic() + timeout
        while True:
            for psub in (self._psub, self._bulk_psub):
                if psub is not None:
                    turn = min(max(deadline - time.monotonic(), 0.01), 0.05)
                    fetched = await self._fetch_and_handle(psub, turn)
                    if fetched:
                        return fetched
            if time.monotonic() >= deadline:
                return 0

    async def _fetch_and_handle(self, psub: Any, timeout: float, turn: asyncio.Lock | None = None) -> int:
        """Fetch a batch (holding ``turn``, the lane's fetch turn, if given) and apply it."""
        async with turn or contextlib.nullcontext():
            try:
                msgs: list[Msg] = await psub.fetch(1, timeout=timeout)
            except (FetchTimeoutError, asyncio.TimeoutError):
                return 0
            msgs += await self._fetch_more(psub, msgs[0], self.batch_size - 1)
        await self.handle(msgs)
        return len(msgs)

    async def _fetch_more(self, psub: Any, first: Msg, count: int) -> list[Msg]:
        """Up to ``count`` messages to go with ``first``: those the server has ready now and, when
        fewer than ``count`` are (a caught-up consumer), those that arrive within ``linger``.

        Each batch costs about 2 ms of CPU whatever its size (a transaction through SQLAlchemy with
        four round trips, two pull requests, acks; 55 us more per event; measured draining a backlog
        at fixed batch sizes: 2,647 us per event in batches of 1, 403 in batches of 5, 174 in 20).
        A caught-up consumer at 1,000 events/s took batches of 1-5 events, so that fixed cost
        dominated its CPU and starved it on a busy machine; lingering a few milliseconds for the
        events behind the first makes its batches several times bigger at a bounded latency cost.
        The linger runs from the first message's store time, so no event waits more than ``linger``
        for its batch to fill (clocks of NATS and this host agreeing to a few milliseconds; the wait
        is clamped to ``linger`` either way); a consumer with a backlog (the first message's
        ``num_pending``) does not linger."""
        if count < 1:
            return []
        meta = first.metadata
        linger = 0.0
        if (meta.num_pending or 0) < count and self.linger > 0:
            linger = min(max(self.linger - (time.time() - meta.timestamp.timestamp()), 0.0), self.linger)
        if linger > 0:
            await asyncio.sleep(linger)
        return await self._fetch_available(psub, count)

    async def _fetch_available(self, psub: Any, count: int) -> list[Msg]:
        """Up to ``count`` messages the server has ready now, without lingering for more.

        A pull with ``no_wait`` and no ``expires``: the server answers at once with what it has and
        then a 404/408 status, so the batch is every ready message, however long the replies take
        on a busy machine.  The nats-py ``fetch(n, timeout=0.002)`` used before returned at its
        deadline with whatever had arrived: on the shared machine (load 12) that was one message
        or none, so batches were of one event (four round trips each) and a consumer applied 760
        events/s at most.  A long ``fetch`` timeout is no answer either: with nothing ready it
        turns into a lingering pull.  (Reaches into nats-py's pull subscription: the library is
        pinned in pyproject.toml; tests/kernel/test_consumer_fetch.py checks the batches.)
        """
        if count < 1:
            return []
        sub = psub._sub
        msgs: list[Msg] = []
        while len(msgs) < count and not sub._pending_queue.empty():  # left by an earlier pull
            msg = await sub.next_msg(timeout=0.001)
            if not JetStreamContext.is_status_msg(msg):
                msgs.append(msg)
        if len(msgs) >= count:
            return msgs
        await psub._nc.publish(psub._nms, json.dumps({"batch": count - len(msgs), "no_wait": True}).encode(),
                               psub._deliver)
        deadline = time.monotonic() + READY_REPLY_TIMEOUT
        while len(msgs) < count:
            try:
                msg = await sub.next_msg(timeout=max(deadline - time.monotonic(), 0.001))
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                break  # a late reply waits in the queue for the next pull; nothing is lost
            status = JetStreamContext.is_status_msg(msg)
            if not status:
                msgs.append(msg)
            elif status != StatusCode.CONTROL_MESSAGE:  # 404/408: no more ready; 409: e.g. max ack pending
                break
        return msgs

    async def handle(self, msgs: list[Msg]) -> None:
        started = time.perf_counter()
        # While the batch runs, tell JetStream it is being worked on (+WPI restarts AckWait), so a
        # long batch is not redelivered to another worker and counted as a failure.  The task is
        # only started once the batch has run a third of AckWait (most batches take milliseconds).
        heartbeat: list[asyncio.Task[None]] = []
        later = asyncio.get_running_loop().call_later(
            max(self.ack_wait / 3, 0.05), lambda: heartbeat.append(asyncio.create_task(self._keep_in_progress(msgs))))
        try:
            await self._handle(msgs)
        finally:
            later.cancel()
            for task in heartbeat:
                task.cancel()
        EVENT_HANDLE_DURATION.labels(self.service, self.name).observe(time.perf_counter() - started)

    async def _keep_in_progress(self, msgs: list[Msg]) -> None:
        interval = max(self.ack_wait / 3, 0.05)
        while True:
            for msg in msgs:
                if not msg._ackd:
                    try:
                        await msg.in_progress()
                    except Exception as exc:  # a lost connection: the batch's own path reports it
                        log.debug("consumer %s: in_progress failed: %s", self.name, exc)
                        return
            await asyncio.sleep(interval)

    async def _handle(self, msgs: list[Msg]) -> None:
        readable: list[tuple[Msg, Envelope, Event]] = []
        poison: list[tuple[Msg, str]] = []
        for msg in msgs:
            if msg.metadata.num_delivered > 1:
                EVENT_REDELIVERIES.labels(self.service, self.name).inc()
            target = (msg.headers or {}).get(H_REPLAY_FOR)
            if target and target != self.name:
                # A DLQ replay goes only to the consumer that parked the event.
                EVENTS_CONSUMED.labels(self.service, self.name, "not_addressed").inc()
                await msg.ack()
                continue
            try:
                envelope = Envelope.model_validate_json(msg.data)
                readable.append((msg, envelope, envelope.event()))
            except (ValidationError, KeyError, ValueError) as exc:
                poison.append((msg, f"{type(exc).__name__}: {exc}"[:2000]))
        pending = readable
        while pending:
            try:
                done = await self._apply_batch_retrying(pending)
            except _HandlerFailed as failure:
                if await self._is_outage(failure.error):
                    # Not these events' fault: abandon the batch unacked (redelivered after
                    # AckWait) rather than spend their attempts or park them.
                    raise failure.error from None
                # Redo the batch one message per savepoint so only the failing messages are
                # retried; the one that already failed is not run again in this delivery.
                failed = await self._apply_one_by_one(pending, already_failed=failure)
                failed_msgs = {id(m) for m, _ in failed}
                for msg, _, _ in pending:  # committed: now (and only now) acknowledge
                    if id(msg) not in failed_msgs:
                        await msg.ack()
                for msg, handler_error in failed:
                    await self._retry_or_park(msg, handler_error)
                break
            for msg, _, _ in pending[:done]:  # committed: now (and only now) acknowledge
                await msg.ack()
            pending = pending[done:]
        for msg, reason in poison:
            await self._dead_letter(msg, f"unreadable event: {reason}")

    async def _apply_batch_retrying(self, batch: list[tuple[Msg, Envelope, Event]]) -> int:
        """:meth:`_apply_batch`, redone on a deadlock or serialisation failure (never parked for that)."""
        for attempt in range(TRANSIENT_RETRIES):
            try:
                return await self._apply_batch(batch)
            except _HandlerFailed as failure:
                if not is_transient_sql_error(failure.error) or attempt == TRANSIENT_RETRIES - 1:
                    if is_transient_sql_error(failure.error):
                        raise failure.error from None  # still contended: leave unacked, redelivered later
                    raise
                EVENTS_CONSUMED.labels(self.service, self.name, "transient_retry").inc()
                await asyncio.sleep(random.uniform(0.01, 0.05) * 2**attempt)
        raise AssertionError("unreachable")

    async def _apply_batch(self, batch: list[tuple[Msg, Envelope, Event]]) -> int:
        """The fast path: one transaction, one inbox statement for the whole batch, no savepoints.

        Returns how many messages of ``batch`` were settled (applied or skipped); it stops early,
        and takes the unapplied events' inbox rows back out, once the batch ran ``batch_time_cap``.
        """
        outcomes: list[str] = []
        started = time.monotonic()
        done = len(batch)
        async with bounded_transaction(self.sessionmaker, commit_timeout=self.commit_timeout,
                                       statement_timeout=self.statement_timeout) as session:
            claimed = await session.execute(
                self._claim_many, {"consumer": self.name, "ids": [env.id for _, env, _ in batch],
                                   "lock_timeout": self.lock_timeout_ms}
            )
            fresh = {row[0] for row in claimed}
            at_once = self.sub_spec.batch_handler is not None and not self.sub_spec.ordered
            if at_once:
                outcomes = await self._apply_all(session, batch, fresh)
            for index, (_, envelope, event) in enumerate(() if at_once else batch):
                if index and time.monotonic() - started > self.batch_time_cap:
                    done = index
                    if fresh:
                        await session.execute(self._unclaim, {"consumer": self.name, "ids": list(fresh)})
                    break
                if envelope.id not in fresh:
                    outcomes.append("duplicate")
                    continue
                fresh.discard(envelope.id)  # the same event twice in one batch applies once
                try:
                    outcomes.append(await self._apply_one(session, event, envelope))
                except Exception as error:
                    raise _HandlerFailed(index, error) from error
        self._count(outcomes)
        return done

    def _count(self, outcomes: list[str]) -> None:
        for outcome, count in Counter(outcomes).items():  # once per outcome and batch, not per event
            EVENTS_CONSUMED.labels(self.service, self.name, outcome).inc(count)

    async def _apply_all(self, session: AsyncSession, batch: list[tuple[Msg, Envelope, Event]],
                         fresh: set[Any]) -> list[str]:
        """The subscription's batch handler over the batch's new events, in one call."""
        assert self.sub_spec.batch_handler is not None
        new: list[tuple[Event, Envelope]] = []
        outcomes = []
        for _, envelope, event in batch:
            if envelope.id in fresh:
                fresh.discard(envelope.id)  # the same event twice in one batch applies once
                new.append((event, envelope))
                outcomes.append("applied")
            else:
                outcomes.append("duplicate")
        if new:
            try:
                await self.sub_spec.batch_handler(session, new)
            except Exception as error:
                raise _HandlerFailed(-1, error) from error  # -1: redo every event one by one
        return outcomes

    async def _apply_one(self, session: AsyncSession, event: Event, envelope: Envelope) -> str:
        """Run the handler for a claimed event, unless an ordered consumer already applied a newer version."""
        if self.sub_spec.ordered and envelope.entity and envelope.entity_version is not None:
            newer = await session.execute(self._advance_version, {
                "consumer": self.name, "entity": envelope.entity, "version": envelope.entity_version})
            if newer.first() is None:
                return "stale"
        await self._run_handler(session, event, envelope)
        return "applied"

    async def _apply_one_by_one(
        self, batch: list[tuple[Msg, Envelope, Event]], *, already_failed: _HandlerFailed
    ) -> list[tuple[Msg, Exception]]:
        failed: list[tuple[Msg, Exception]] = []
        outcomes: list[str] = []
        async with bounded_transaction(self.sessionmaker, commit_timeout=self.commit_timeout,
                                       statement_timeout=self.statement_timeout) as session:
            for index, (msg, envelope, event) in enumerate(batch):
                if index == already_failed.index:
                    log.warning("consumer %s: handler failed: %s", self.name, already_failed.error)
                    failed.append((msg, already_failed.error))
                    continue
                try:
                    async with session.begin_nested():
                        claimed = await session.execute(
                            self._claim, {"consumer": self.name, "event_id": envelope.id}
                        )
                        if claimed.first() is None:
                            outcomes.append("duplicate")
                            continue
                        outcomes.append(await self._apply_one(session, event, envelope))
                except Exception as error:
                    if is_infrastructure_error(error):
                        raise
                    log.warning("consumer %s: handler failed: %s", self.name, error, exc_info=True)
                    failed.append((msg, error))
        self._count(outcomes)
        return failed

    async def _is_outage(self, error: Exception) -> bool:
        """A lost database is an outage; a timeout or network error is the handler's own failure
        (a slow partner API, its own ``asyncio.timeout``) unless the database is unreachable too."""
        if is_infrastructure_error(error):
            return True
        if is_ambiguous_error(error):
            return not await self._database_ok()
        return False

    async def _database_ok(self) -> bool:
        try:
            async with self.sessionmaker() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=2)
            return True
        except Exception:
            return False

    async def _run_handler(self, session: AsyncSession, event: Event, envelope: Envelope) -> None:
        token = request_id_var.set(envelope.request_id)
        try:
            await self.sub_spec.handler(session, event, envelope)
        finally:
            request_id_var.reset(token)

    async def _retry_or_park(self, msg: Msg, exc: Exception) -> None:
        delivered = msg.metadata.num_delivered
        if delivered >= self.max_deliver and not is_transient_sql_error(exc):
            await self._dead_letter(msg, f"{type(exc).__name__}: {exc}"[:2000])
            return
        EVENTS_CONSUMED.labels(self.service, self.name, "retry").inc()
        delay = self.backoff[min(delivered - 1, len(self.backoff) - 1)]
        await msg.nak(delay=delay)

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        await park(self.js, service=self.service, consumer=self.name, msg=msg, reason=reason)
        EVENTS_CONSUMED.labels(self.service, self.name, "dead_lettered").inc()
        await msg.ack()

    async def close(self) -> None:
        """Drop the pull subscriptions (the durable consumer stays).

        Needed before ``nc.drain()``: drain waits until every message queued on the pull
        inbox is read, and after the worker stopped nobody reads them, so shutdown would stall
        until the drain timeout.  Unacknowledged messages are redelivered after AckWait.
        """
        self._psub = self._bulk_psub = None
        subs, self._subs = self._subs, set()
        for psub in subs:
            await self._unsubscribe(psub)

    async def _unsubscribe(self, psub: Any) -> None:
        self._subs.discard(psub)
        try:
            await psub.unsubscribe()
        except Exception as exc:
            log.debug("consumer %s: unsubscribe failed: %s", self.name, exc)

    async def refresh_gauges(self, psub: Any, lane: str = INTERACTIVE) -> None:
        info = await psub.consumer_info()
        label = self.lanes[lane].label
        CONSUMER_LAG.labels(self.service, label).set(info.num_pending or 0)
        CONSUMER_ACK_PENDING.labels(self.service, label).set(info.num_ack_pending or 0)

    async def run(self, stop: asyncio.Event) -> None:
        """``concurrency`` fetch loops on the interactive lane's durable consumer (while one batch
        commits, the next is fetched and applied; the inbox keeps the effect single either way),
        and ``bulk_concurrency`` on the bulk lane's."""
        await asyncio.gather(
            *(self._fetch_loop(stop, INTERACTIVE, first=i == 0) for i in range(self.concurrency)),
            *(self._fetch_loop(stop, BULK, first=i == 0) for i in range(self.bulk_concurrency)))

    async def _fetch_loop(self, stop: asyncio.Event, lane: str = INTERACTIVE, *, first: bool) -> None:
        psub: Any = None
        last_gauges = 0.0
        while not stop.is_set():
            try:
                if psub is None:
                    psub = await self._pull_subscribe(lane)
                await self._fetch_and_handle(psub, timeout=1.0, turn=self._turns[lane])
                if first and time.monotonic() - last_gauges > 5:
                    last_gauges = time.monotonic()
                    await self.refresh_gauges(psub, lane)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s (%s): %s: %s; retrying", self.name, lane, type(exc).__name__, exc)
                if psub is not None:
                    await self._unsubscribe(psub)
                    psub = None
                await self._wait_for_database(stop)
                await _sleep_unless(stop, 0.5)  # e.g. a missing stream: no tight loop of warnings

    async def _wait_for_database(self, stop: asyncio.Event) -> None:
        """Fetch nothing while the database is down.

        Every fetch of a message that cannot be committed costs it one of its MaxDeliver
        attempts (it comes back after AckWait); fetching through a long database outage
        would exhaust them and strand healthy events.  So probe until a query succeeds.
        """
        delay = 0.5
        while not stop.is_set():
            if await self._database_ok():  # bounded: a server that cannot answer is waited out here
                return
            log.info("consumer %s: waiting for the database", self.name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


# SQLSTATEs that say "try again": serialization_failure, deadlock_detected, lock_not_available
# (our lock_timeout), query_canceled (statement_timeout under contention).  Retried, never parked.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})
TRANSIENT_RETRIES = 5


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind ``error`` (asyncpg or SQLAlchemy-wrapped), if any."""
    for current in _chain(error):
        code = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(code, str):
            return code
        orig = getattr(current, "orig", None)
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_transient_sql_error(error: BaseException) -> bool:
    return sqlstate(error) in TRANSIENT_SQLSTATES


def is_infrastructure_error(error: BaseException) -> bool:
    """True for a lost or refused database connection, as opposed to a handler's own failure.

    A timeout or ``OSError`` alone is not enough (a handler's partner API may time out): see
    :func:`is_ambiguous_error`, which the consumer settles by probing the database.
    """
    for current in _chain(error):
        if isinstance(current, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                                asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
                                sa_exc.InterfaceError)):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError) and sqlstate(current) not in TRANSIENT_SQLSTATES:
            return True
    return False


def is_ambiguous_error(error: BaseException) -> bool:
    """A timeout or network error: the database's, or the handler's own call's."""
    return any(isinstance(current, (OSError, asyncio.TimeoutError, TimeoutError)) for current in _chain(error))


def known_subjects() -> list[str]:
    return sorted(EVENT_TYPES)
