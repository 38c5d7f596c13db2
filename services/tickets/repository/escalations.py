"""The hot path of an escalation: few round trips, each doing all it can.

Measured (``bench/tickets_bench.py``, docs/tickets.md): an SLA breach that escalates was 14 statements
through SQLAlchemy plus two raw ones inside the scheduler's transaction.  Here it is three: the ticket
locked together with its clock, the breach marked together with its timeline entry, and the move
itself — the escalation row (its trail of the level left computed by the database), the old level's
clocks stopped and their jobs deleted, the ticket moved, the new level's clocks and jobs, the
``escalated`` timeline entry with its live NOTIFY, the outbox event and the relay's NOTIFY — as one
statement of data-modifying CTEs.  Everything after the escalation row hangs on it: when the unique
(ticket, level left) index says this level already escalated, the statement writes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.outbox import notify_channel, relay_asleep
from services.tickets.models import ticket, ticket_sla
from services.tickets.repository.common import raw_connection
from services.tickets.repository.tickets import LIVE_CHANNEL, LIVE_WATCHED

TRAIL_ENTRIES = 50
JSON_COLUMNS = ("reporter", "raised_by_roles", "attachments")

_MARK_BREACHED = f"""
WITH clock AS (
    UPDATE tickets.ticket_sla SET breached_at = $2::timestamptz WHERE id = $1::uuid AND breached_at IS NULL
    RETURNING ticket_id
), entry AS (
    INSERT INTO tickets.timeline (ticket_id, desk_id, at, actor, actor_kind, kind, public, level, data)
    SELECT ticket_id, $3::uuid, $2, 'system', 'system', 'sla_breached', false, $4::text, $5::jsonb FROM clock
    RETURNING ticket_id, desk_id, seq
)
SELECT (SELECT count(*) FROM entry) AS marked,
       (SELECT count(pg_notify('{LIVE_CHANNEL}', json_build_object('ticket', ticket_id::text, 'desks',
               json_build_array(desk_id::text), 'seq', seq)::text))
        FROM entry, (SELECT {LIVE_WATCHED} AS watched) AS w WHERE w.watched) AS live
"""

_ESCALATE = f"""
WITH esc AS (
    INSERT INTO tickets.escalation (ticket_id, from_level_seq, from_desk_id, from_level, to_desk_id, to_level, cause,
                                    reason, actor, at, trail)
    SELECT $1::uuid, $2::int4, $3::uuid, $4::text, $5::uuid, $6::text, $7::text, $8::text, $9::text,
           $10::timestamptz, coalesce((
        SELECT jsonb_agg(jsonb_build_object('at', e.at, 'actor', e.actor, 'kind', e.kind, 'to_status', e.to_status,
                                            'body', left(coalesce(e.body, ''), 500)) ORDER BY e.seq)
        FROM (SELECT * FROM tickets.timeline WHERE ticket_id = $1 AND desk_id = $3
              ORDER BY seq DESC LIMIT {TRAIL_ENTRIES}) e), '[]'::jsonb)
    ON CONFLICT (ticket_id, from_level_seq) DO NOTHING
    RETURNING ticket_id
), stopped AS (
    UPDATE tickets.ticket_sla SET stopped_at = $10
    WHERE ticket_id IN (SELECT ticket_id FROM esc) AND level_seq = $2 AND stopped_at IS NULL AND met_at IS NULL
    RETURNING kind
), jobs_gone AS (
    DELETE FROM tickets.scheduled_job
    WHERE kind = $11::text AND key IN (SELECT $1::text || ':' || $2::int4 || ':' || kind FROM stopped)
), moved AS (
    UPDATE tickets.ticket SET status = $12::text, desk_id = $5, desk_area_code = $13::text, level = $6,
                              level_seq = $2 + 1, assigned_to = NULL, updated_at = $10, version = version + 1
    WHERE id IN (SELECT ticket_id FROM esc)
    RETURNING *
), kinds AS (
    SELECT m.id, k.kind, k.target, k.deadline FROM moved m
    CROSS JOIN (VALUES ('first_response', $14::int4, $15::timestamptz), ('resolution', $16::int4, $17::timestamptz))
        AS k(kind, target, deadline)
), clocks AS (
    INSERT INTO tickets.ticket_sla (ticket_id, level_seq, level, desk_id, kind, target_seconds, elapsed_seconds,
                                    started_at, running_since, deadline_at, policy_id, policy_version)
    SELECT id, $2 + 1, $6, $5, kind, target, 0, $10, $10, deadline, $18::uuid, $19::int4 FROM kinds
), jobs AS (
    INSERT INTO tickets.scheduled_job (kind, key, due_at, payload)
    SELECT $11, id::text || ':' || ($2 + 1) || ':' || kind, deadline,
           jsonb_build_object('ticket_id', id::text, 'level_seq', $2 + 1, 'kind', kind) FROM kinds
    ON CONFLICT (kind, key) DO UPDATE SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload, attempts = 0,
        last_error = NULL, failed_at = NULL, lease_owner = NULL, lease_until = NULL
), entry AS (
    INSERT INTO tickets.timeline (ticket_id, desk_id, from_desk_id, at, actor, actor_kind, kind, public, from_status,
                                  to_status, level, body, data)
    SELECT id, $5, $3, $10, $9, $20::text, 'escalated', true, $21::text, $12, $6, $8, $22::jsonb FROM moved
    RETURNING ticket_id, seq
), event AS (
    INSERT INTO tickets.outbox (id, subject, payload, headers)
    SELECT $23::uuid, $24::text, $25::jsonb, $26::jsonb FROM moved
    RETURNING 1
)
SELECT moved.*,
       (SELECT count(pg_notify('{LIVE_CHANNEL}', json_build_object('ticket', ticket_id::text, 'desks',
               json_build_array($5::text, $3::text), 'seq', seq)::text))
        FROM entry, (SELECT {LIVE_WATCHED} AS watched) AS w WHERE w.watched) AS live,
       (SELECT pg_notify($27::text, '') FROM (SELECT 1 FROM event) AS any_event
        WHERE {relay_asleep("$27::text")}) AS relay
FROM moved
"""


CLOCK_FIELDS = ("id", "level", "met_at", "stopped_at", "breached_at", "deadline_at")
_LOCK_WITH_CLOCK = (
    select(ticket, *(ticket_sla.c[name].label(f"clock_{name}") for name in CLOCK_FIELDS))
    .select_from(ticket.outerjoin(ticket_sla, and_(
        ticket_sla.c.ticket_id == ticket.c.id, ticket_sla.c.level_seq == bindparam("level_seq"),
        ticket_sla.c.kind == bindparam("kind"))))
    .where(ticket.c.id == bindparam("id"))
    .with_for_update(of=ticket, skip_locked=True)
)


class EscalationStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_with_clock(self, ticket_id: uuid.UUID, level_seq: int,
                              kind: str) -> tuple[RowMapping | None, dict[str, Any] | None]:
        """The ticket, locked if free (None when a request holds it), and its clock of that level and kind:
        one query."""
        result = await self.session.execute(_LOCK_WITH_CLOCK, {"id": ticket_id, "level_seq": level_seq,
                                                               "kind": kind})
        row = result.mappings().first()
        if row is None:
            return None, None
        clock = {name: row[f"clock_{name}"] for name in CLOCK_FIELDS}
        return row, (clock if clock["id"] is not None else None)

    async def mark_breached(self, clock: Mapping[Any, Any], desk_id: uuid.UUID, at: datetime, data: str) -> bool:
        """The clock breached at ``at`` and the internal timeline entry; False when it was already marked."""
        conn = await raw_connection(self.session)
        return bool(await conn.fetchval(_MARK_BREACHED, clock["id"], at, desk_id, clock["level"], data))

    async def move(self, t: Mapping[Any, Any], desk: Mapping[Any, Any], target: Mapping[Any, Any], *, cause: str,
                   reason: str | None, actor: str, actor_kind: str, at: datetime, status: str, job_kind: str,
                   terms: Mapping[str, Any], deadlines: Mapping[str, datetime], entry_data: str,
                   event: Mapping[str, Any]) -> RowMapping | None:
        """Escalate ``t`` (locked) from ``desk`` to ``target``; the moved ticket, or None if this level of it
        was already escalated (nothing written)."""
        conn = await raw_connection(self.session)
        row = await conn.fetchrow(
            _ESCALATE, t["id"], t["level_seq"], desk["id"], desk["level"], target["id"], target["level"], cause,
            reason, actor, at, job_kind, status, target["area_code"], terms["first_response"],
            deadlines["first_response"], terms["resolution"], deadlines["resolution"], terms["policy_id"],
            terms["policy_version"], actor_kind, t["status"], entry_data, event["id"], event["subject"],
            event["payload"], event["headers"], notify_channel("tickets"))
        if row is None:
            return None
        moved = {k: v for k, v in row.items() if k not in ("live", "relay")}
        for key in JSON_COLUMNS:  # the raw connection hands jsonb back as text (SQLAlchemy decodes it elsewhere)
            if isinstance(moved[key], str):
                moved[key] = json.loads(moved[key])
        return moved  # type: ignore[return-value]
