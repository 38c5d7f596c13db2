"""Live ticket and desk streams (server-sent events) fed by PostgreSQL LISTEN/NOTIFY.

Every timeline entry NOTIFYs ``tickets_live`` in its own transaction, so a stream hears of a
change only once it is committed, whichever replica made it.  One LISTEN connection per
process fans out to the open streams.  A client that reconnects with ``Last-Event-ID`` gets what
it missed from the table, then live entries, with no gap and no duplicate:

* a ticket's entries are written under its row lock, so their ``seq`` order is their commit order:
  the event id is the ``seq``;
* a desk's entries come from many tickets committing concurrently, so ``seq`` order is not commit
  order (an entry may commit after one with a higher ``seq``).  Entries carry their transaction
  id; the stream hands them out in ``(xid, seq)`` order, and only once every transaction that
  began before them has ended (the snapshot's xmin is past their xid), so no entry can later
  appear before a position already handed out.  The event id is ``<xid>.<seq>``.  The price: an
  entry waits for older transactions still running (bounded by the session and statement timeouts).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.auth import Identity
from kernel.errors import ValidationProblem
from services.tickets.repository.tickets import (
    HOLD_LIVE_WATCH,
    LIVE_CHANNEL,
    NEW_XID,
    SETTLED_BEFORE,
    TimelineRepository,
)
from services.tickets.service.common import require_agent
from services.tickets.service.desks import get_desk

log = logging.getLogger("gramsetu.tickets.live")
QUEUE_SIZE = 1000
SETTLE_POLL = 0.02  # seconds, while the transactions older than a new hub's lock end (usually one look)


class LiveHub:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: asyncpg.Connection | None = None
        self.listeners: dict[str, set[asyncio.Queue[int]]] = defaultdict(set)
        self._lock = asyncio.Lock()
        self._settling: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self._lock:
            if self.conn is None or self.conn.is_closed():
                self.conn = await asyncpg.connect(self.dsn)
                await self.conn.add_listener(LIVE_CHANNEL, self._on_notify)
                # Writers notify only while some process holds this (repository/tickets.py, LIVE_WATCHED);
                # taken after LISTEN, so a writer that sees it notifies a connection already listening.
                await self.conn.execute(HOLD_LIVE_WATCH)
                mark = int(await self.conn.fetchval(NEW_XID))
                self._settling = asyncio.create_task(self._wake_when_settled(self.conn, mark))

    async def _wake_when_settled(self, conn: asyncpg.Connection, mark: int) -> None:
        """A writer that looked before the lock was held did not notify, and may commit after a stream's first
        read: once every transaction older than the lock has ended, wake every stream to read again."""
        try:
            settled = int(await conn.fetchval(SETTLED_BEFORE))
            while settled < mark:
                await asyncio.sleep(SETTLE_POLL)
                settled = int(await conn.fetchval(SETTLED_BEFORE))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:  # closed: the streams poll on
            log.debug("live hub: settle check ended: %s", exc)
            return
        for queues in list(self.listeners.values()):
            for queue in list(queues):
                if not queue.full():
                    queue.put_nowait(0)

    async def stop(self) -> None:
        if self._settling is not None:
            self._settling.cancel()
            self._settling = None
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()  # ends the session: its advisory lock goes, writers stop notifying
        self.conn = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        message = json.loads(payload)
        for key in [f"ticket:{message['ticket']}", *(f"desk:{d}" for d in message["desks"])]:
            for queue in self.listeners.get(key, ()):
                if queue.full():  # a stalled client: drop the oldest, it will see the gap by seq
                    queue.get_nowait()
                queue.put_nowait(int(message["seq"]))

    async def subscribe(self, key: str) -> asyncio.Queue[int]:
        await self.start()
        queue: asyncio.Queue[int] = asyncio.Queue(QUEUE_SIZE)
        self.listeners[key].add(queue)
        return queue

    async def unsubscribe(self, key: str, queue: asyncio.Queue[int]) -> None:
        self.listeners[key].discard(queue)
        if not self.listeners[key]:
            del self.listeners[key]
        if not self.listeners:  # the last stream ended: hold no idle connection
            async with self._lock:
                if not self.listeners:
                    await self.stop()


Position = tuple[int, ...]
# A fetch: (entries after the position, whether later entries are held back until older transactions end).
Fetch = Callable[[TimelineRepository, Position], Awaitable[tuple[list[Mapping[Any, Any]], bool]]]
HELD_BACK_RETRY = 0.1  # seconds: an entry waits only for transactions that began before it to end


def ticket_position(entry: Mapping[Any, Any]) -> Position:
    return (int(entry["seq"]),)


def desk_position(entry: Mapping[Any, Any]) -> Position:
    return int(entry["xid"]), int(entry["seq"])


def event_id(position: Position) -> str:
    return ".".join(str(p) for p in position)


def sse(entry: Mapping[Any, Any], position: Position) -> bytes:
    data = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in entry.items() if k not in ("xid", "ready")}
    data["at"] = entry["at"].isoformat()
    return f"id: {event_id(position)}\nevent: {entry['kind']}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def stream(
    hub: LiveHub, sessionmaker: async_sessionmaker[AsyncSession], key: str, *, after: Position, fetch: Fetch,
    position: Callable[[Mapping[Any, Any]], Position], heartbeat: float, disconnected: Callable[[], Any],
) -> AsyncIterator[bytes]:
    """Entries after ``after`` from the table, then each new one as it commits; a comment line as heartbeat."""
    queue = await hub.subscribe(key)
    try:
        last = after
        while True:
            async with sessionmaker() as session:
                entries, held = await fetch(TimelineRepository(session), last)
            for entry in entries:
                last = position(entry)
                yield sse(entry, last)
            try:
                await asyncio.wait_for(queue.get(), timeout=HELD_BACK_RETRY if held else heartbeat)
                while not queue.empty():
                    queue.get_nowait()
            except asyncio.TimeoutError:
                if held:
                    continue
                if await disconnected():
                    return
                yield b": keep-alive\n\n"
    finally:
        await hub.unsubscribe(key, queue)


def parse_desk_event_id(value: str | None) -> Position | None:
    """``<xid>.<seq>`` as this stream's events carry it; None when absent; ValueError when malformed."""
    if value is None:
        return None
    xid, dot, seq = value.strip().partition(".")
    if not dot or not xid.isdigit() or not seq.isdigit() or len(xid) > 19 or len(seq) > 19:
        raise ValueError("expected <xid>.<seq>, the id of an event of this stream")
    return int(xid), int(seq)


async def desk_stream_start(session: AsyncSession, identity: Identity, desk_id: uuid.UUID,
                            last_event_id: str | None) -> Position:
    """Check the caller may watch the desk; the position to stream after (now, unless resuming)."""
    try:
        resume = parse_desk_event_id(last_event_id)
    except ValueError as exc:
        raise ValidationProblem(f"Last-Event-ID: {exc}",
                                errors=[{"field": "Last-Event-ID", "reason": str(exc)}]) from exc
    await get_desk(session, identity, desk_id)
    require_agent(identity, "watch a desk")
    if resume is not None:
        return resume
    return await TimelineRepository(session).live_position()
