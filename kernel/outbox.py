"""Transactional outbox: events are rows written in the same transaction as the change.

``add_event`` only inserts; the :class:`~kernel.relay.OutboxRelay` publishes committed rows to
JetStream and deletes each row only after its PubAck.  A ``pg_notify`` in the same
transaction wakes the relay at commit (notifications are delivered only on commit, so a
rolled-back change never wakes anyone); polling covers lost notifications.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contracts.base import Envelope, Event
from kernel.context import request_id_var

_NOTIFIED = "gramsetu.outbox_notified"


def notify_channel(schema: str) -> str:
    return f"gramsetu_outbox_{schema}"


def envelope_for(event: Event, *, source: str) -> Envelope:
    return Envelope(
        type=event.subject, source=source, request_id=request_id_var.get(), data=event.model_dump(mode="json")
    )


async def add_events(session: AsyncSession, schema: str, events: Sequence[Event], *, source: str) -> list[uuid.UUID]:
    """Write events to the outbox inside the caller's transaction; returns their ids."""
    if not events:
        return []
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
    insert = (
        f'INSERT INTO "{schema}".outbox (id, subject, payload, headers) '
        "VALUES (:id, :subject, CAST(:payload AS jsonb), CAST(:headers AS jsonb))"
    )
    if session.info.get(_NOTIFIED):
        await session.execute(text(insert), rows)
    elif len(rows) == 1:
        # The common case, one event per transaction: insert and notify in one round trip.
        await session.execute(
            text(f"WITH written AS ({insert}) SELECT pg_notify(:channel, '')"),
            {**rows[0], "channel": notify_channel(schema)},
        )
    else:
        await session.execute(text(insert), rows)
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": notify_channel(schema)})
    session.info[_NOTIFIED] = True
    return [envelope_id for envelope_id in (row["id"] for row in rows) if isinstance(envelope_id, uuid.UUID)]


async def add_event(session: AsyncSession, schema: str, event: Event, *, source: str) -> uuid.UUID:
    return (await add_events(session, schema, [event], source=source))[0]


@sa_event.listens_for(Session, "after_transaction_end")
def _reset_notified(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_NOTIFIED, None)
