"""SQL for tickets, their SLA clocks, escalations and the append-only timeline."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from services.tickets.models import KERNEL, desk, open_count, open_delta, ticket, ticket_sla, timeline
from services.tickets.models.tickets import OPEN_STATUSES
from services.tickets.repository.common import all_rows, one_or_none, page, raw_connection

LIVE_CHANNEL = "tickets_live"
# A process with live streams open holds this session advisory lock shared (service/live.py, LiveHub), and
# writers NOTIFY the live channel only while someone holds it.  PostgreSQL serialises every notifying commit
# on one cluster-wide lock held through the commit's WAL flush: a NOTIFY in every ticket creation held
# ``POST /tickets`` to one commit at a time (bench ``tickets.create_rate``, docs/tickets.md).
LIVE_LOCK_CLASS = 0x67740001
_LIVE_KEY = f"{LIVE_LOCK_CLASS}, hashtext('{LIVE_CHANNEL}')"
# True when a stream may be listening: the exclusive lock cannot be had for an instant (taken and released
# inside one CASE, so a writer never holds it).  Two writers checking at the same instant may each see the
# other's and notify for nothing: harmless, only slower.
LIVE_WATCHED = (f"CASE WHEN pg_try_advisory_lock({_LIVE_KEY}) THEN NOT pg_advisory_unlock({_LIVE_KEY}) "
                "ELSE true END")
HOLD_LIVE_WATCH = f"SELECT pg_advisory_lock_shared({_LIVE_KEY})"


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ticket_id: uuid.UUID, *, lock: bool = False, skip_locked: bool = False) -> RowMapping | None:
        stmt = select(ticket).where(ticket.c.id == ticket_id)
        if lock:
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        return await one_or_none(self.session, stmt)

    async def exists(self, ticket_id: uuid.UUID) -> bool:
        return await one_or_none(self.session, select(ticket.c.id).where(ticket.c.id == ticket_id)) is not None

    async def by_tracking_number(self, number: str) -> RowMapping | None:
        return await one_or_none(self.session, select(ticket).where(ticket.c.tracking_number == number))

    async def by_source_ref(self, ref: str) -> RowMapping | None:
        return await one_or_none(self.session, select(ticket).where(ticket.c.source_ref == ref))

    async def update(self, ticket_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = (update(ticket).where(ticket.c.id == ticket_id)
                .values(**values, version=ticket.c.version + 1).returning(ticket))
        row = await one_or_none(self.session, stmt)
        assert row is not None
        return row

    async def list_page(
        self, *, desk_scopes: Sequence[str] | None, raised_by: str | None, status: str | None,
        desk_id: uuid.UUID | None, limit: int, offset: int,
    ) -> tuple[list[RowMapping], int]:
        """Newest first (created_at, id: unique and stable); agents by desk area, reporters by their own."""
        stmt = select(ticket)
        if desk_scopes is not None:
            stmt = stmt.where(within_any(ticket.c.desk_area_code, list(desk_scopes)))
        if raised_by is not None:
            stmt = stmt.where(ticket.c.raised_by == raised_by)
        if status is not None:
            stmt = stmt.where(ticket.c.status == status)
        if desk_id is not None:
            stmt = stmt.where(ticket.c.desk_id == desk_id)
        stmt = stmt.order_by(ticket.c.created_at.desc(), ticket.c.id.desc())
        return await page(self.session, stmt, limit=limit, offset=offset)

    async def open_concerning(self, person_id: uuid.UUID) -> list[RowMapping]:
        # Locked like any change to a ticket: its timeline entries keep their commit order (the ticket stream).
        stmt = (select(ticket).where(ticket.c.concerns_person_id == person_id, ticket.c.status.in_(OPEN_STATUSES))
                .order_by(ticket.c.id).with_for_update())
        return list(await all_rows(self.session, stmt))

    async def open_counts(self) -> list[RowMapping]:
        """Open tickets per level and category: the deltas written since the last call folded into the totals
        (cost: the changes since then, not the open tickets).  Replicas folding at once each take other rows."""
        folded = delete(open_delta).returning(open_delta.c.level, open_delta.c.category, open_delta.c.n).cte("folded")
        sums = (select(folded.c.level, folded.c.category, func.sum(folded.c.n))
                .group_by(folded.c.level, folded.c.category))
        upsert = pg_insert(open_count).from_select(["level", "category", "n"], sums)
        upsert = upsert.on_conflict_do_update(index_elements=["level", "category"],
                                              set_={"n": open_count.c.n + upsert.excluded.n})
        await self.session.execute(upsert)
        stmt = select(open_count).where(open_count.c.n != 0).order_by(open_count.c.level, open_count.c.category)
        return list(await all_rows(self.session, stmt))

    async def queue_page(self, desk_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        """The desk's open tickets with their nearest live deadline, most urgent first (paused last)."""
        nearest = (
            select(ticket_sla.c.kind, ticket_sla.c.deadline_at, ticket_sla.c.target_seconds,
                   ticket_sla.c.elapsed_seconds, ticket_sla.c.running_since)
            .where(ticket_sla.c.ticket_id == ticket.c.id, ticket_sla.c.level_seq == ticket.c.level_seq,
                   ticket_sla.c.stopped_at.is_(None), ticket_sla.c.met_at.is_(None))
            .order_by(ticket_sla.c.deadline_at.asc().nulls_last(), ticket_sla.c.kind)
            .limit(1).lateral("nearest")
        )
        stmt = (
            select(ticket, nearest.c.kind.label("sla_kind"), nearest.c.deadline_at.label("sla_deadline_at"),
                   nearest.c.target_seconds.label("sla_target_seconds"),
                   nearest.c.elapsed_seconds.label("sla_elapsed_seconds"),
                   nearest.c.running_since.label("sla_running_since"))
            .select_from(ticket.outerjoin(nearest, literal_column("true")))
            .where(ticket.c.desk_id == desk_id, ticket.c.status.in_(OPEN_STATUSES))
            .order_by(nearest.c.deadline_at.asc().nulls_last(), ticket.c.created_at, ticket.c.id)
        )
        return await page(self.session, stmt, limit=limit, offset=offset)


class SlaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def start(self, rows: list[dict[str, Any]], job_kind: str) -> None:
        """Insert a level's clocks and schedule their deadline jobs (``<ticket>:<level_seq>:<kind>``, moved if
        they exist) in one statement (an escalation's hot path)."""
        conn = await raw_connection(self.session)
        await conn.execute(_START_CLOCKS, [r["ticket_id"] for r in rows], [r["level_seq"] for r in rows],
                           [r["level"] for r in rows], [r["desk_id"] for r in rows], [r["kind"] for r in rows],
                           [r["target_seconds"] for r in rows], [r["started_at"] for r in rows],
                           [r["deadline_at"] for r in rows], [r["policy_id"] for r in rows],
                           [r["policy_version"] for r in rows], job_kind)

    async def stop(self, ticket_id: uuid.UUID, level_seq: int, at: datetime, job_kind: str) -> None:
        """The level's live clocks stop and their deadline jobs go, in one statement."""
        conn = await raw_connection(self.session)
        await conn.execute(_STOP_CLOCKS, ticket_id, level_seq, at, job_kind)

    async def live(self, ticket_id: uuid.UUID, level_seq: int) -> list[RowMapping]:
        """The level's clocks that are neither met nor stopped."""
        stmt = (select(ticket_sla).where(ticket_sla.c.ticket_id == ticket_id, ticket_sla.c.level_seq == level_seq,
                                         ticket_sla.c.stopped_at.is_(None), ticket_sla.c.met_at.is_(None))
                .order_by(ticket_sla.c.kind))
        return list(await all_rows(self.session, stmt))

    async def for_ticket(self, ticket_id: uuid.UUID) -> list[RowMapping]:
        stmt = (select(ticket_sla).where(ticket_sla.c.ticket_id == ticket_id)
                .order_by(ticket_sla.c.level_seq, ticket_sla.c.kind))
        return list(await all_rows(self.session, stmt))

    async def get(self, ticket_id: uuid.UUID, level_seq: int, kind: str) -> RowMapping | None:
        stmt = select(ticket_sla).where(ticket_sla.c.ticket_id == ticket_id, ticket_sla.c.level_seq == level_seq,
                                        ticket_sla.c.kind == kind)
        return await one_or_none(self.session, stmt)

    async def set(self, sla_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.session.execute(update(ticket_sla).where(ticket_sla.c.id == sla_id).values(**values))

    async def recompute_candidates(
        self, *, after: uuid.UUID | None, limit: int, level: str | None = None, category: str | None = None,
        not_categories: Sequence[str] = (), calendar_ids: Sequence[uuid.UUID] | None = None,
    ) -> list[uuid.UUID]:
        """Ids of live, unbreached clocks an SLA policy (level and category) or a calendar change touches, in id
        order after ``after`` (a batch of the recompute; the caller locks their tickets, then re-reads)."""
        stmt = select(ticket_sla.c.id).where(ticket_sla.c.stopped_at.is_(None), ticket_sla.c.breached_at.is_(None))
        if after is not None:
            stmt = stmt.where(ticket_sla.c.id > after)
        if level is not None:
            stmt = stmt.where(ticket_sla.c.level == level)
        if category is not None or not_categories:
            stmt = stmt.join(ticket, ticket.c.id == ticket_sla.c.ticket_id)
            if category is not None:
                stmt = stmt.where(ticket.c.category == category)
            if not_categories:
                stmt = stmt.where(ticket.c.category.not_in(list(not_categories)))
        if calendar_ids is not None:
            stmt = stmt.join(desk, desk.c.id == ticket_sla.c.desk_id).where(
                desk.c.calendar_id.in_(list(calendar_ids)), ticket_sla.c.running_since.is_not(None))
        rows = await all_rows(self.session, stmt.order_by(ticket_sla.c.id).limit(limit))
        return [r["id"] for r in rows]

    async def lock_for_recompute(self, clock_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        """Lock the tickets of these clocks (in id order: two recomputes never deadlock), then the clocks
        as they are now, with the ticket's category and the desk's calendar."""
        tickets_of = select(ticket_sla.c.ticket_id).where(ticket_sla.c.id.in_(list(clock_ids)))
        await self.session.execute(select(ticket.c.id).where(ticket.c.id.in_(tickets_of))
                                   .order_by(ticket.c.id).with_for_update())
        stmt = (select(ticket_sla, ticket.c.category, desk.c.calendar_id)
                .join(ticket, ticket.c.id == ticket_sla.c.ticket_id).join(desk, desk.c.id == ticket_sla.c.desk_id)
                .where(ticket_sla.c.id.in_(list(clock_ids)), ticket_sla.c.stopped_at.is_(None),
                       ticket_sla.c.breached_at.is_(None))
                .order_by(ticket_sla.c.id))
        return list(await all_rows(self.session, stmt))

    async def counts(self, now: datetime, near: datetime) -> dict[str, list[RowMapping]]:
        """Live running clocks near breach (deadline within (now, near]) and breached (deadline passed), by level
        and category: two ranges of the live-deadline index, so the cost follows those clocks, not the open
        tickets.  A clock paused after its breach has no deadline and is not counted until it runs again."""
        base = select(ticket_sla.c.level, ticket.c.category, func.count().label("n")).select_from(
            ticket_sla.join(ticket, ticket.c.id == ticket_sla.c.ticket_id)).where(
            ticket_sla.c.stopped_at.is_(None), ticket_sla.c.met_at.is_(None)).group_by(
            ticket_sla.c.level, ticket.c.category)
        near_rows = await all_rows(self.session, base.where(ticket_sla.c.deadline_at > now,
                                                            ticket_sla.c.deadline_at <= near))
        breached_rows = await all_rows(self.session, base.where(ticket_sla.c.deadline_at <= now))
        return {"near_breach": list(near_rows), "breached": list(breached_rows)}


class TimelineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, entry: dict[str, Any], *, also_desk: uuid.UUID | None = None) -> int:
        """Append an entry and wake live streams at commit (NOTIFY is delivered only if the change commits)."""
        desks = [str(entry["desk_id"]), *([str(also_desk)] if also_desk else [])]
        written = insert(timeline).values(**entry).returning(timeline.c.seq).cte("written")
        # One round trip: the entry, and the NOTIFY naming its seq (json built by the database).
        notify = func.pg_notify(LIVE_CHANNEL, func.json_build_object(
            "ticket", str(entry["ticket_id"]), "desks", func.json_build_array(*desks), "seq", written.c.seq,
        ).cast(Text))
        row = await one_or_none(self.session, select(written.c.seq, case((literal_column(LIVE_WATCHED), notify))))
        assert row is not None
        return int(row["seq"])

    async def for_ticket(self, ticket_id: uuid.UUID, *, public_only: bool, after: int = 0,
                         limit: int = 500) -> list[RowMapping]:
        stmt = select(timeline).where(timeline.c.ticket_id == ticket_id, timeline.c.seq > after)
        if public_only:
            stmt = stmt.where(timeline.c.public)
        return list(await all_rows(self.session, stmt.order_by(timeline.c.seq).limit(limit)))

    async def page_for_ticket(self, ticket_id: uuid.UUID, *, public_only: bool, limit: int,
                              offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(timeline).where(timeline.c.ticket_id == ticket_id)
        if public_only:
            stmt = stmt.where(timeline.c.public)
        return await page(self.session, stmt.order_by(timeline.c.seq), limit=limit, offset=offset)

    async def settled_before(self) -> int:
        """A transaction id before which every transaction of this database has ended: the oldest one still
        running here (``pg_stat_activity``, this database only: other databases' transactions cannot write
        this table, so a long bulk load elsewhere on the server holds nothing back), else the next to be
        assigned.  The snapshot is taken at the statement's start, before the sessions are read, so a
        transaction with a lower id either shows as running or has ended by then.  It needs the service's
        role to see its own sessions' ``backend_xid`` (it does; grant ``pg_read_all_stats`` if several
        roles write the timeline)."""
        return int(await self.session.scalar(_SETTLED_BEFORE) or 0)

    async def for_desk(self, desk_id: uuid.UUID, *, after: tuple[int, int],
                       limit: int = 500) -> tuple[list[RowMapping], bool]:
        """The desk's entries (and the escalations that took a ticket away from it) after the position
        ``(xid, seq)`` in (xid, seq) order, up to the first one whose transaction is not yet settled
        (:meth:`settled_before`); and whether such a held-back entry exists (the caller looks again shortly).
        No entry can ever appear before a position already handed out, so resuming from an event id has no
        gap and no duplicate.  Two statements: the rows are read in a snapshot taken after the settled point
        was found (READ COMMITTED), so every settled entry is seen."""
        gate = await self.settled_before()
        stmt = (select(timeline, (timeline.c.xid < gate).label("ready"))
                .where(or_(timeline.c.desk_id == desk_id, timeline.c.from_desk_id == desk_id),
                       tuple_(timeline.c.xid, timeline.c.seq) > tuple_(*after))
                .order_by(timeline.c.xid, timeline.c.seq).limit(limit))
        rows = list(await all_rows(self.session, stmt))
        ready: list[RowMapping] = []
        for row in rows:
            if not row["ready"]:
                return ready, True
            ready.append(row)
        return ready, False

    async def live_position(self) -> tuple[int, int]:
        """A desk stream's starting position: entries of transactions not yet settled follow it."""
        return await self.settled_before(), 0


_START_CLOCKS = """
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::uuid[], $5::text[], $6::int4[], $7::timestamptz[],
                         $8::timestamptz[], $9::uuid[], $10::int4[])
        AS i(ticket_id, level_seq, level, desk_id, kind, target_seconds, started_at, deadline_at, policy_id,
             policy_version)
), clocks AS (
    INSERT INTO tickets.ticket_sla (ticket_id, level_seq, level, desk_id, kind, target_seconds, elapsed_seconds,
                                    started_at, running_since, deadline_at, policy_id, policy_version)
    SELECT ticket_id, level_seq, level, desk_id, kind, target_seconds, 0, started_at, started_at, deadline_at,
           policy_id, policy_version FROM input
)
INSERT INTO tickets.scheduled_job (kind, key, due_at, payload)
SELECT $11, ticket_id::text || ':' || level_seq || ':' || kind, deadline_at,
       jsonb_build_object('ticket_id', ticket_id::text, 'level_seq', level_seq, 'kind', kind) FROM input
ON CONFLICT (kind, key) DO UPDATE SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload, attempts = 0,
    last_error = NULL, failed_at = NULL, lease_owner = NULL, lease_until = NULL
"""

_STOP_CLOCKS = """
WITH stopped AS (
    UPDATE tickets.ticket_sla SET stopped_at = $3
    WHERE ticket_id = $1 AND level_seq = $2 AND stopped_at IS NULL AND met_at IS NULL
    RETURNING kind
)
DELETE FROM tickets.scheduled_job
WHERE kind = $4 AND key IN (SELECT $1::text || ':' || $2::int4 || ':' || kind FROM stopped)
"""

SETTLED_BEFORE = (
    "SELECT least(pg_snapshot_xmax(pg_current_snapshot())::text::bigint, "
    "(SELECT min(backend_xid::text::bigint) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL))")
_SETTLED_BEFORE = text(SETTLED_BEFORE)
# A transaction id of its own (a snapshot's xmax is one past the last *completed* id, not the next to be
# given): every transaction id handed out before this one is below it.
NEW_XID = "SELECT pg_current_xact_id()::text::bigint"


class AutoCloseRepository:
    """The auto-close jobs of a desk's resolved tickets, moved together when the desk's policy changes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def reschedule_desk(self, desk_id: uuid.UUID, kind: str, days: int) -> int:
        """Every resolved ticket of the desk closes ``days`` after its resolution (0: never); returns how many."""
        job = KERNEL["scheduled_job"]
        resolved = and_(ticket.c.desk_id == desk_id, ticket.c.status == "resolved")
        if days == 0:
            result = await self.session.execute(delete(job).where(
                job.c.kind == kind, job.c.key.in_(select(cast(ticket.c.id, Text)).where(resolved))))
            return int(result.rowcount)  # type: ignore[attr-defined]
        payload = func.jsonb_build_object("ticket_id", cast(ticket.c.id, Text), "resolved_at", ticket.c.resolved_at)
        rows = select(literal(kind), cast(ticket.c.id, Text), ticket.c.resolved_at + func.make_interval(0, 0, 0, days),
                      payload).where(resolved)
        stmt = pg_insert(job).from_select(["kind", "key", "due_at", "payload"], rows)
        stmt = stmt.on_conflict_do_update(index_elements=["kind", "key"], set_={
            "due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload, "attempts": 0, "last_error": None,
            "failed_at": None, "lease_owner": None, "lease_until": None})
        result = await self.session.execute(stmt)
        return int(result.rowcount)  # type: ignore[attr-defined]
