"""Transactional outbox: events are rows written in the same transaction as the change.

``add_event`` only inserts; the :class:`~kernel.relay.OutboxRelay` publishes committed rows to
JetStream and deletes each row only after its PubAck.  A ``pg_notify`` in the same
transaction wakes a sleeping relay at commit (notifications are delivered only on commit, so a
rolled-back change never wakes anyone); polling covers lost notifications.

**Notify only a sleeping relay.**  PostgreSQL serialises every notifying commit on one
cluster-wide lock, held through the commit's WAL flush, so a notify per write cost concurrent
writers 58% of their throughput (events bench, ``events.outbox_write_with_notify``).  A relay
that is busy polls by itself (kernel.relay, "awake"), and says so by holding the session
advisory lock ``(AWAKE_LOCK_CLASS, hashtext(<channel>))``; a writer notifies only when it can
take that lock shared for an instant (no relay awake), so under load no writer notifies.

Bulk writers put many events in one row instead (:func:`copy_event_batches`): ``batch`` holds one
``<event id>\t<subject>\t<envelope json>`` line per event, ``events`` their count.  One COPYed
text row per few hundred events costs far less than a jsonb row per event; the relay publishes
each line as its own message, with the same ids, subjects and envelopes as single rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contracts.base import Envelope, Event
from kernel.context import request_id_var

_NOTIFIED = "gramsetu.outbox_notified"

# Events per batch row.  The relay claims rows up to its batch size in events (500 by default)
# but a row is never split, so a bigger row makes a bigger relay batch: keep batches at or
# below the relay's batch size.
BATCH_EVENTS = 500
MAX_BATCH_EVENTS = 1000
_BATCH_COLUMNS = ("id", "subject", "batch", "events", "headers")


BULK_NOTIFY = "bulk"  # notification payload of a batch-row write (wakes the relay's bulk lane only)
# Key space (the first of two int4 keys) of the advisory lock an awake relay holds; the second key is
# hashtext(<notify channel>).  Two-key advisory locks never collide with the one-bigint-key ones.
AWAKE_LOCK_CLASS = 0x67730001


def relay_asleep(channel: str) -> str:
    """An SQL condition: no relay of ``channel`` (an SQL expression) is awake, so a writer should notify.

    The shared lock is taken and released inside one ``CASE`` (evaluated in order), so a writer
    never holds it and an idle relay's exclusive ``pg_try_advisory_lock`` is not starved."""
    key = f"{AWAKE_LOCK_CLASS}, hashtext({channel})"
    return f"CASE WHEN pg_try_advisory_lock_shared({key}) THEN pg_advisory_unlock_shared({key}) ELSE false END"


def notify_unless_awake(channel: str) -> str:
    """A ``SELECT`` that notifies ``channel`` (an SQL expression) at commit unless a relay is awake."""
    return f"SELECT pg_notify({channel}, '') WHERE {relay_asleep(channel)}"


def notify_channel(schema: str) -> str:
    return f"gramsetu_outbox_{schema}"


def envelope_for(event: Event, *, source: str) -> Envelope:
    entity, version = event.ordering() or (None, None)
    return Envelope(
        type=event.subject, source=source, request_id=request_id_var.get(), data=event.model_dump(mode="json"),
        entity=entity, entity_version=version,
    )


def outbox_rows(events: Sequence[Event], *, source: str) -> list[dict[str, Any]]:
    """The outbox rows for ``events``: id, subject, serialised envelope, headers."""
    rows = []
    for event in events:
        envelope = envelope_for(event, source=source)
        rows.append(
            {
                "id": envelope.id,
                "subject": envelope.type,
                "payload": envelope.model_dump_json(),
                "headers": json.dumps({"X-Request-ID": envelope.request_id} if envelope.request_id else {}),
            }
        )
    return rows


async def add_events(session: AsyncSession, schema: str, events: Sequence[Event], *, source: str) -> list[uuid.UUID]:
    """Write events to the outbox inside the caller's transaction; returns their ids."""
    if not events:
        return []
    rows = outbox_rows(events, source=source)
    insert = (
        f'INSERT INTO "{schema}".outbox (id, subject, payload, headers) '
        "VALUES (:id, :subject, CAST(:payload AS jsonb), CAST(:headers AS jsonb))"
    )
    if session.info.get(_NOTIFIED):
        await session.execute(text(insert), rows)
    elif len(rows) == 1:
        # The common case, one event per transaction: insert and notify in one round trip.
        await session.execute(
            text(f"WITH written AS ({insert}) {notify_unless_awake(':channel')}"),
            {**rows[0], "channel": notify_channel(schema)},
        )
    else:
        await session.execute(text(insert), rows)
        await session.execute(text(notify_unless_awake(":channel")), {"channel": notify_channel(schema)})
    session.info[_NOTIFIED] = True
    return [row["id"] for row in rows]


async def add_events_asyncpg(
    conn: asyncpg.Connection, schema: str, events: Sequence[Event], *, source: str
) -> list[uuid.UUID]:
    """The same outbox write on a raw asyncpg connection (bulk paths, COPY-based imports).

    The caller holds the transaction; rows go in with one ``unnest`` statement that also
    notifies the relay (delivered at commit) unless one is awake.
    """
    if not events:
        return []
    rows = outbox_rows(events, source=source)
    await conn.execute(
        f'WITH written AS (INSERT INTO "{schema}".outbox (id, subject, payload, headers) '
        "SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[])) "
        + notify_unless_awake("$5::text"),
        [r["id"] for r in rows], [r["subject"] for r in rows], [r["payload"] for r in rows],
        [r["headers"] for r in rows], notify_channel(schema),
    )
    return [row["id"] for row in rows]


def batch_line(event_id: str, subject: str, envelope_json: str) -> str:
    """One event of a batch row: ``envelope_json`` is what a single row's ``payload`` holds (compact JSON)."""
    line = f"{event_id}\t{subject}\t{envelope_json}"
    if line.count("\t") != 2 or "\n" in line:
        raise ValueError("an outbox batch line cannot hold a tab or newline (use compact JSON)")
    return line


async def copy_event_batches(
    conn: asyncpg.Connection,
    schema: str,
    batches: Sequence[Sequence[str]],
    *,
    headers: Mapping[str, str] | None = None,
    ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """COPY one outbox row per non-empty batch of :func:`batch_line` lines, in the caller's transaction.

    Every event of the call gets ``headers``.  ``ids`` names the rows (one per batch; random by
    default), for a writer that must find a batch again before it commits.  Notifies the relay
    (delivered at commit) once per call; returns the number of events written.  A batch over
    ``MAX_BATCH_EVENTS`` lines is refused.
    """
    header_json = json.dumps(dict(headers or {}))
    records: list[tuple[uuid.UUID, str, str, int, str]] = []
    for index, lines in enumerate(batches):
        if not lines:
            continue
        if len(lines) > MAX_BATCH_EVENTS:
            raise ValueError(f"an outbox batch holds at most {MAX_BATCH_EVENTS} events, got {len(lines)}")
        subject = lines[0].split("\t", 2)[1]
        row_id = ids[index] if ids is not None else uuid.uuid4()
        records.append((row_id, subject, "\n".join(lines), len(lines), header_json))
    if not records:
        return 0
    await conn.copy_records_to_table("outbox", schema_name=schema, columns=_BATCH_COLUMNS, records=records)
    await conn.execute("SELECT pg_notify($1, $2)", notify_channel(schema), BULK_NOTIFY)
    return sum(record[3] for record in records)


async def add_event(session: AsyncSession, schema: str, event: Event, *, source: str) -> uuid.UUID:
    return (await add_events(session, schema, [event], source=source))[0]


@sa_event.listens_for(Session, "after_transaction_end")
def _reset_notified(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_NOTIFIED, None)


# ---------------------------------------------------------------- the quarantine (operators: `gramsetu outbox`)

_QUARANTINE_COLUMNS = "id, subject, payload, batch, events, headers, created_at"


async def list_quarantined(conn: asyncpg.Connection, schema: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """Rows the relay gave up on, oldest first: id, subject, events, attempts, last error, times."""
    rows = await conn.fetch(
        f'SELECT id, subject, events, attempts, last_error, created_at, quarantined_at, '
        f'octet_length(coalesce(payload::text, batch)) AS bytes FROM "{schema}".outbox_quarantine '
        "ORDER BY quarantined_at, id LIMIT $1", limit)
    return [{"service": schema, **dict(row)} for row in rows]


async def retry_quarantined(conn: asyncpg.Connection, schema: str, ids: Sequence[uuid.UUID] | None) -> int:
    """Put quarantined rows (all when ``ids`` is None) back in the outbox with their attempts reset.

    They keep their ids, so consumers that applied an earlier copy skip them through the inbox.
    """
    where = "" if ids is None else "WHERE id = ANY($1::uuid[])"
    args: list[Any] = [] if ids is None else [list(ids)]
    async with conn.transaction():
        status = await conn.execute(
            f'WITH moved AS (DELETE FROM "{schema}".outbox_quarantine {where} RETURNING {_QUARANTINE_COLUMNS}) '
            f'INSERT INTO "{schema}".outbox ({_QUARANTINE_COLUMNS}) SELECT {_QUARANTINE_COLUMNS} FROM moved', *args)
        await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))
    return int(status.split()[-1])


async def drop_quarantined(conn: asyncpg.Connection, schema: str, ids: Sequence[uuid.UUID]) -> int:
    """Delete quarantined rows for good (their events are never published)."""
    status = await conn.execute(
        f'DELETE FROM "{schema}".outbox_quarantine WHERE id = ANY($1::uuid[])', list(ids))
    return int(status.split()[-1])
