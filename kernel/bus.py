"""NATS connection and the JetStream streams GramSetu declares in code.

Streams (two per service, plus the dead-letter streams):

* ``<SERVICE>`` holds ``<service>.>``; ``<SERVICE>_BULK`` holds ``bulk.<service>.>``, the events
  written as outbox batch rows (a registry import: a million at once), so that neither the relay
  nor any consumer ever has an interactive event queued behind them, and an import that fills its
  stream's byte limit cannot refuse a ticket's or a payment's event.
* Retention is *limits* (by age), not work-queue, so a new consumer (a new service, a rebuilt
  read model) can replay history and several services can consume the same subject independently.
* ``duplicate_window`` (default 10 min) must be at least the relay's retry horizon: if the
  relay published a batch but crashed before deleting the rows, it re-publishes the same
  event ids later, and JetStream drops them only while the ids are inside the window.
* ``num_replicas`` is 1 for the embedded/dev server and should be 3 in production (R3
  survives the loss of one node).  Durability of an acknowledged write also depends on the
  *server's* ``sync_interval``: the default fsyncs every 2 minutes, so for PII and money
  streams set ``jetstream { sync_interval: always }`` in the server config
  (deploy/k8s/nats-values.yaml) and accept the ~8x lower publish rate.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, Header, PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from contracts.base import bulk_subject, stream_for_subject
from kernel.metrics import STREAM_BYTES, STREAM_MAX_BYTES, STREAM_MESSAGES
from kernel.settings import SERVICES, Settings

log = logging.getLogger("gramsetu.bus")

DLQ_STREAM = "DLQ"
ADVISORY_STREAM = "DLQ_ADVISORIES"
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"
TERMINATED_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"
DAY = 86400
DLQ_MAX_AGE_DAYS = 90  # the inbox keeps its rows at least this long (kernel.runtime), so a replay applies once


def _service_stream(settings: Settings, subject: str, max_bytes: int, description: str) -> StreamConfig:
    return StreamConfig(
        name=stream_for_subject(subject),
        subjects=[subject],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=settings.stream_max_age_days * DAY,
        # A byte limit per stream so no service (or one bulk import) fills the shared volume;
        # at the limit new publishes are refused (the outbox keeps them, an alert fires) rather
        # than old events silently dropped under consumers that have not read them yet.
        max_bytes=max_bytes,
        discard=DiscardPolicy.NEW,
        duplicate_window=settings.stream_duplicate_window_seconds,
        num_replicas=settings.stream_replicas,
        description=description,
    )


def stream_configs(settings: Settings) -> list[StreamConfig]:
    configs = [
        _service_stream(settings, f"{service}.>",
                        settings.stream_max_bytes.get(service, settings.stream_default_max_bytes),
                        f"Events published by the {service} service")
        for service in SERVICES
    ]
    configs += [
        _service_stream(settings, bulk_subject(f"{service}.>"),
                        settings.stream_bulk_max_bytes.get(service, settings.stream_bulk_default_max_bytes),
                        f"Events the {service} service wrote in bulk (outbox batch rows, e.g. an import)")
        for service in SERVICES
    ]
    configs.append(
        StreamConfig(
            name=DLQ_STREAM,
            subjects=["dlq.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=DLQ_MAX_AGE_DAYS * DAY,
            max_bytes=settings.stream_dlq_max_bytes,
            discard=DiscardPolicy.NEW,  # a full DLQ refuses parking (the event is retried), never drops one
            duplicate_window=settings.stream_duplicate_window_seconds,
            num_replicas=settings.stream_replicas,
            description="Events a consumer could not apply, parked with the error for inspection and replay",
        )
    )
    configs.append(
        StreamConfig(
            name=ADVISORY_STREAM,
            subjects=[MAX_DELIVERIES_ADVISORY, TERMINATED_ADVISORY],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=DLQ_MAX_AGE_DAYS * DAY,
            max_bytes=settings.stream_dlq_max_bytes,
            discard=DiscardPolicy.OLD,
            num_replicas=settings.stream_replicas,
            description="Server advisories for messages that ran out of deliveries (e.g. a consumer crashed on them)",
        )
    )
    return configs


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    for config in stream_configs(settings):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            continue
        try:
            await js.update_stream(config)
        except BadRequestError as exc:  # e.g. replicas cannot change on a single server
            log.warning("stream %s kept its existing config: %s", config.name, exc)


async def export_stream_usage(js: JetStreamContext, settings: Settings) -> None:
    """Bytes and messages per stream, and each stream's byte limit, as gauges."""
    for config in stream_configs(settings):
        assert config.name is not None
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            continue
        STREAM_BYTES.labels(config.name).set(info.state.bytes)
        STREAM_MESSAGES.labels(config.name).set(info.state.messages)
        STREAM_MAX_BYTES.labels(config.name).set(info.config.max_bytes or -1)


async def connect(url: str, *, name: str, attempts: int | None = None) -> NATS:
    """Connect, retrying the first connection too (nats-py only retries after a first success)."""
    delay = 0.2
    tried = 0
    while True:
        tried += 1
        try:
            return await nats.connect(
                url,
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            )
        except Exception as exc:
            if attempts is not None and tried >= attempts:
                raise
            log.warning("NATS not reachable at %s (%s); retrying", url, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


# ---------------------------------------------------------------- publish_async, bounded and leak-free
#
# nats-py 2.16's ``JetStreamContext.publish_async`` (pinned in pyproject.toml, because this reaches
# into its internals) has two faults the relay must not inherit:
#
# * It takes a pending slot (a semaphore, ``publish_async_max_pending``) and registers a future
#   *before* sending; when the send raises (reconnect buffer full during an outage, a payload over
#   the server's max_payload) the future is never completed, so the slot is never returned.  After
#   ``max_pending`` such failures every publish_async blocks forever (``wait_stall`` defaults to
#   no limit).  :func:`publish_async` below is the library's body with the failed send returning
#   its slot, and a bounded wait for a slot.
# * A JetStream error reply (storage full, a message over the stream's limit) never completes the
#   future either: ``APIError.from_error`` *raises* inside the reply handler (nats-io/nats.py#985,
#   open), so the caller sees a timeout instead of the reason.  :func:`harden_jetstream` replaces the
#   reply handler with one that puts that error on the future (and skips per-reply overheads).


def harden_jetstream(js: JetStreamContext) -> JetStreamContext:
    """Make JetStream error replies to :func:`publish_async` fail their future with the reason (nats.py#985),
    with a leaner reply handler than the library's (one reply per published event).

    Call before the context's first async publish (the reply subscription binds the handler once).
    """
    if getattr(js, "_gramsetu_hardened", False) or not isinstance(js, JetStreamContext):
        return js
    if getattr(js, "_async_reply_prefix", None):
        log.warning("JetStream context already published asynchronously; error replies stay unpatched")
        return js
    # The library's handler, less its per-reply overheads (PubAck.from_response walks the dataclass's
    # fields for every ack: the relay handles one reply per event), and with error replies put on the
    # future instead of raised.
    async def handle_async_reply(msg: Msg) -> None:
        future = js._publish_async_futures.get(msg.subject[len(js._nc._inbox_prefix) + 22 + 2:])
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
            future.set_exception(nats.js.errors.NoStreamResponseError())
            return
        try:
            reply = json.loads(msg.data)
        except ValueError as unreadable:
            future.set_exception(unreadable)
            return
        refusal = reply.get("error") if isinstance(reply, dict) else None
        if refusal is not None:
            try:
                future.set_exception(nats.js.errors.APIError.from_error(refusal))
            except nats.js.errors.Error as raised:  # raised by APIError.from_error instead of returned
                future.set_exception(raised)
            return
        try:
            future.set_result(PubAck(stream=reply["stream"], seq=reply["seq"], domain=reply.get("domain"),
                                     duplicate=reply.get("duplicate")))
        except (KeyError, TypeError) as malformed:
            future.set_exception(malformed)

    js._handle_async_reply = handle_async_reply  # type: ignore[method-assign]
    js._gramsetu_hardened = True  # type: ignore[attr-defined]
    return js


NO_RESPONDERS_STATUS = "503"
_TOKEN_SUFFIX = itertools.count()


def jetstream(nc: NATS, *, max_pending: int = 4000) -> JetStreamContext:
    return harden_jetstream(nc.jetstream(publish_async_max_pending=max_pending))


async def publish_async(
    js: JetStreamContext, subject: str, payload: bytes, *, headers: dict[str, str], timeout: float
) -> asyncio.Future[Any]:
    """``js.publish_async`` whose every path returns its pending slot, waiting at most ``timeout`` for one.

    Raises ``TooManyStalledMsgsError`` when no slot frees up in time, or what the send raised
    (``MaxPayloadError``, ``OutboundBufferLimitError``, ...), with the slot returned.
    """
    if not isinstance(js, JetStreamContext):  # a wrapper (tests that lose acks on purpose)
        return await js.publish_async(subject, payload, headers=headers)  # type: ignore[no-any-return]
    if not js._async_reply_prefix:
        await js._init_async_reply()
    assert js._async_reply_prefix
    semaphore = js._publish_async_pending_semaphore
    if semaphore.locked():  # only then wait (bounded); wait_for costs a task per call
        try:
            await asyncio.wait_for(semaphore.acquire(), timeout=timeout)
        except asyncio.TimeoutError:
            raise nats.js.errors.TooManyStalledMsgsError from None
    else:
        await semaphore.acquire()
    token = js._nc._nuid.next()
    # The library appends two random bytes (os.urandom: a system call per event); the NUID is already
    # unique per call, so a counter keeps the token's length (the reply handler slices by it).
    token.extend(b"%04x" % (next(_TOKEN_SUFFIX) & 0xFFFF))
    key = token.decode()
    inbox = js._async_reply_prefix[:]
    inbox.extend(token)
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    futures = js._publish_async_futures

    def release(_: asyncio.Future[Any]) -> None:
        futures.pop(key, None)
        if not futures:
            js._publish_async_completed_event.set()
        semaphore.release()

    future.add_done_callback(release)
    futures[key] = future
    js._publish_async_completed_event.clear()
    try:
        await js._nc.publish(subject, payload, reply=inbox.decode(), headers=headers)
    except BaseException:
        future.cancel()  # returns the slot (the library leaks it here)
        raise
    return future
