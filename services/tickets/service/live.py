"""Live ticket and desk streams (server-sent events) fed by PostgreSQL LISTEN/NOTIFY.

Every timeline entry NOTIFYs ``tickets_live`` in its own transaction, so a stream hears of a
change only once it is committed, whichever replica made it.  One LISTEN connection per
process fans out to the open streams.  Each SSE event's id is the entry's ``seq``: a client that
reconnects with ``Last-Event-ID`` gets what it missed from the table, then live entries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.auth import Identity
from services.tickets.repository.tickets import LIVE_CHANNEL, TimelineRepository
from services.tickets.service.common import require_agent
from services.tickets.service.desks import get_desk

log = logging.getLogger("gramsetu.tickets.live")
QUEUE_SIZE = 1000


class LiveHub:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: asyncpg.Connection | None = None
        self.listeners: dict[str, set[asyncio.Queue[int]]] = defaultdict(set)
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self.conn is None or self.conn.is_closed():
                self.conn = await asyncpg.connect(self.dsn)
                await self.conn.add_listener(LIVE_CHANNEL, self._on_notify)

    async def stop(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()
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


def sse(entry: Mapping[Any, Any]) -> bytes:
    data = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in entry.items()}
    data["at"] = entry["at"].isoformat()
    return f"id: {entry['seq']}\nevent: {entry['kind']}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def stream(
    hub: LiveHub, sessionmaker: async_sessionmaker[AsyncSession], key: str, *, after: int,
    fetch: Callable[[TimelineRepository, int], Any], heartbeat: float, disconnected: Callable[[], Any],
) -> AsyncIterator[bytes]:
    """Entries after ``after`` from the table, then each new one as it commits; a comment line as heartbeat."""
    queue = await hub.subscribe(key)
    try:
        last = after
        while True:
            async with sessionmaker() as session:
                for entry in await fetch(TimelineRepository(session), last):
                    last = max(last, int(entry["seq"]))
                    yield sse(entry)
            try:
                await asyncio.wait_for(queue.get(), timeout=heartbeat)
                while not queue.empty():
                    queue.get_nowait()
            except asyncio.TimeoutError:
                if await disconnected():
                    return
                yield b": keep-alive\n\n"
    finally:
        await hub.unsubscribe(key, queue)


async def desk_stream_start(session: AsyncSession, identity: Identity, desk_id: uuid.UUID,
                            last_event_id: int | None) -> int:
    """Check the caller may watch the desk; the seq to stream after (now, unless resuming)."""
    await get_desk(session, identity, desk_id)
    require_agent(identity, "watch a desk")
    if last_event_id is not None:
        return last_event_id
    return await TimelineRepository(session).last_seq_for_desk(desk_id)
