"""The hot path of ticket creation: every row of a batch of new tickets in one statement.

Measured (``bench/tickets_bench.py``, docs/tickets.md): a creation was ten round trips (routing,
calendar, holidays, policy, ticket, clocks, two jobs, timeline, outbox) before the commit.  Here the
ticket, its two clocks, their two deadline jobs, the ``created`` timeline entry with its live NOTIFY,
the outbox event and the relay's NOTIFY are one statement of data-modifying CTEs over arrays (one
element per ticket), run as an asyncpg prepared statement inside the session's transaction.  A ticket
whose tracking number (or ``source_ref``) is taken writes nothing at all: every CTE joins the tickets
actually inserted, and the caller draws again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.outbox import notify_channel, relay_asleep
from services.tickets.repository.common import raw_connection
from services.tickets.repository.tickets import LIVE_CHANNEL, LIVE_WATCHED

# (array parameter, its type, the column it fills) for the ticket rows, in order.
TICKET_COLUMNS = (
    ("id", "uuid"), ("tracking_number", "text"), ("category", "text"), ("priority", "text"), ("title", "text"),
    ("description", "text"), ("language", "text"), ("area_code", "text"), ("desk_id", "uuid"),
    ("desk_area_code", "text"), ("level", "text"), ("raised_by", "text"), ("raised_by_roles", "jsonb"),
    ("reporter", "jsonb"), ("channel", "text"), ("concerns_person_id", "uuid"), ("concerns_facility", "text"),
    ("attachments", "jsonb"), ("source_ref", "text"), ("created_at", "timestamptz"),
)
# Per ticket, beside its row: the clocks' targets and deadlines, the policy version, the timeline entry's data.
EXTRA_COLUMNS = (
    ("first_target", "int4"), ("first_deadline", "timestamptz"), ("resolution_target", "int4"),
    ("resolution_deadline", "timestamptz"), ("policy_id", "uuid"), ("policy_version", "int4"),
    ("entry_actor_kind", "text"), ("entry_body", "text"), ("entry_data", "jsonb"),
)
_INPUT = ", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate((*TICKET_COLUMNS, *EXTRA_COLUMNS)))
_NAMES = ", ".join(name for name, _ in (*TICKET_COLUMNS, *EXTRA_COLUMNS))
_N = len(TICKET_COLUMNS) + len(EXTRA_COLUMNS)
_TICKET_NAMES = ", ".join(name for name, _ in TICKET_COLUMNS)

INSERT_TICKETS = f"""
WITH generation AS (
    SELECT coalesce((SELECT n FROM tickets.routing_generation WHERE id = 1), 0) AS n
), input AS (
    -- Routed with cached desks: nothing is written unless the routing tables are as they were read.
    SELECT * FROM unnest({_INPUT}) AS i({_NAMES})
    WHERE ${_N + 7}::int8 IS NULL OR ${_N + 7} = (SELECT n FROM generation)
), t AS (
    INSERT INTO tickets.ticket ({_TICKET_NAMES}, status, level_seq, updated_at)
    SELECT {_TICKET_NAMES}, 'new', 0, created_at FROM input
    ON CONFLICT DO NOTHING
    RETURNING id
), new AS (
    SELECT i.* FROM input i JOIN t USING (id)
), k AS (
    SELECT n.*, kind, CASE kind WHEN 'first_response' THEN first_target ELSE resolution_target END AS target,
           CASE kind WHEN 'first_response' THEN first_deadline ELSE resolution_deadline END AS deadline
    FROM new n CROSS JOIN (VALUES ('first_response'), ('resolution')) AS kinds(kind)
), clocks AS (
    INSERT INTO tickets.ticket_sla (ticket_id, level_seq, level, desk_id, kind, target_seconds, elapsed_seconds,
                                    started_at, running_since, deadline_at, policy_id, policy_version)
    SELECT id, 0, level, desk_id, kind, target, 0, created_at, created_at, deadline, policy_id, policy_version FROM k
), jobs AS (
    INSERT INTO tickets.scheduled_job (kind, key, due_at, payload)
    SELECT 'tickets.sla_breach', id::text || ':0:' || kind, deadline,
           jsonb_build_object('ticket_id', id::text, 'level_seq', 0, 'kind', kind) FROM k
    ON CONFLICT (kind, key) DO NOTHING
), entries AS (
    INSERT INTO tickets.timeline (ticket_id, desk_id, at, actor, actor_kind, kind, public, to_status, level, body, data)
    SELECT id, desk_id, created_at, raised_by, entry_actor_kind, 'created', true, 'new', level, entry_body, entry_data
    FROM new
    RETURNING ticket_id, desk_id, seq
), events AS (
    INSERT INTO tickets.outbox (id, subject, payload, headers)
    SELECT e.id, e.subject, e.payload, e.headers
    FROM unnest(${_N + 1}::uuid[], ${_N + 2}::text[], ${_N + 3}::jsonb[], ${_N + 4}::jsonb[], ${_N + 5}::uuid[])
         AS e(id, subject, payload, headers, ticket_id)
    JOIN t ON t.id = e.ticket_id
    RETURNING 1
)
SELECT ARRAY(SELECT id FROM t) AS ids, (SELECT n FROM generation) AS generation,
       (SELECT count(pg_notify('{LIVE_CHANNEL}', json_build_object('ticket', ticket_id::text, 'desks',
               json_build_array(desk_id::text), 'seq', seq)::text))
        FROM entries, (SELECT {LIVE_WATCHED} AS watched) AS w WHERE w.watched) AS live,
       (SELECT pg_notify(${_N + 6}, '') FROM (SELECT 1 FROM events LIMIT 1) AS any_event
        WHERE {relay_asleep(f"${_N + 6}")}) AS relay
"""


class StaleRoutes(Exception):
    """The routing tables changed since the routes were cached: nothing was written; route again."""


class IntakeRepository:
    """``pool``: run each insert as an autocommit statement on the pool (a single ticket: the statement is the
    whole write), shared with the creations queued at the same time (group commit, below), instead of inside
    the session's transaction."""

    def __init__(self, session: AsyncSession, pool: asyncpg.Pool | None = None) -> None:
        self.session = session
        self.pool = pool

    async def insert(self, rows: Sequence[dict[str, Any]], outbox: Sequence[dict[str, Any]], *,
                     generation: int | None = None) -> set[uuid.UUID]:
        """Insert the tickets (and everything that goes with each); returns the ids actually inserted.
        ``outbox`` rows carry the ``ticket_id`` they belong to (an event is written only with its ticket).
        ``generation``: the routing generation the rows were routed at; StaleRoutes (nothing written) when
        the tables have changed since."""
        columns = [[row[name] for row in rows] for name, _ in (*TICKET_COLUMNS, *EXTRA_COLUMNS)]
        events = [[o[name] for o in outbox] for name in ("id", "subject", "payload", "headers", "ticket_id")]
        args = (*columns, *events, notify_channel("tickets"), generation)
        if self.pool is not None:
            written = await _coalescer(self.pool).insert(columns, events, generation)
        else:
            written = await (await raw_connection(self.session)).fetchrow(INSERT_TICKETS, *args)
        assert written is not None
        if generation is not None and written["generation"] != generation:
            raise StaleRoutes
        return set(written["ids"])


# Group commit on the statement pool.  Measured (py-spy, POST /tickets under load, docs/tickets.md): running the
# statement was ~17% of a creation's CPU in the service process (encoding 34 arrays, the write and read system
# calls, the pool) and each one a commit of its own in PostgreSQL.  Creations that arrive while statements are in
# flight wait for the next one and go together: at most IN_FLIGHT statements at a time per process, each with
# every creation queued since (up to MAX_GROUP).  Nothing waits for company: a creation on an idle process is
# sent at once.  Each caller still gets its answer only once its ticket is committed.
IN_FLIGHT = 2
MAX_GROUP = 500


@dataclass
class _Queued:
    columns: list[list[Any]]
    events: list[list[Any]]
    generation: int | None
    answer: asyncio.Future[Mapping[str, Any]]


class _Coalescer:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.queue: list[_Queued] = []
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def insert(self, columns: list[list[Any]], events: list[list[Any]],
                     generation: int | None) -> Mapping[str, Any]:
        answer: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self.queue.append(_Queued(columns, events, generation, answer))
        if self.in_flight < IN_FLIGHT:
            self.in_flight += 1
            task = asyncio.create_task(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await answer

    async def _drain(self) -> None:
        try:
            while self.queue:
                # One statement checks one routing generation: take the first's, and those routed at it.
                generation = self.queue[0].generation
                group = [q for q in self.queue if q.generation == generation][:MAX_GROUP]
                taken = set(map(id, group))
                self.queue = [q for q in self.queue if id(q) not in taken]
                try:
                    await self._send(group, generation)
                except BaseException as exc:  # never leave a request waiting for an answer
                    for queued in group:
                        if not queued.answer.done():
                            queued.answer.set_exception(exc)
                    raise
        finally:
            self.in_flight -= 1

    async def _send(self, group: list[_Queued], generation: int | None) -> None:
        columns = [list(chain.from_iterable(q.columns[k] for q in group)) for k in range(len(group[0].columns))]
        events = [list(chain.from_iterable(q.events[k] for q in group)) for k in range(len(group[0].events))]
        try:
            async with self.pool.acquire() as conn:
                written = await conn.fetchrow(INSERT_TICKETS, *columns, *events, notify_channel("tickets"),
                                              generation)
        except Exception as exc:
            if len(group) > 1:  # each its own answer: a creation that breaks the statement fails alone
                for queued in group:
                    await self._send([queued], generation)
            elif not group[0].answer.done():
                group[0].answer.set_exception(exc)
            return
        for queued in group:
            if not queued.answer.done():  # its request may have been cancelled meanwhile
                queued.answer.set_result(written)


_COALESCERS: dict[int, _Coalescer] = {}  # by id(pool): asyncpg's Pool takes no weak references


def _coalescer(pool: asyncpg.Pool) -> _Coalescer:
    coalescer = _COALESCERS.get(id(pool))
    if coalescer is None or coalescer.pool is not pool:
        for key in [k for k, c in _COALESCERS.items() if c.pool.is_closing()]:  # pools of stopped runtimes
            del _COALESCERS[key]
        coalescer = _COALESCERS[id(pool)] = _Coalescer(pool)
    return coalescer
