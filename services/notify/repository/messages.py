"""Messages and their delivery log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import message, message_event, opt_out
from services.notify.repository.common import all_rows, one_or_none, page


async def insert_message(session: AsyncSession, values: dict[str, Any]) -> tuple[RowMapping, bool]:
    """The message with this idempotency key: newly written (True) or the one already there (False)."""
    stmt = pg_insert(message).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    row = await one_or_none(session, stmt.returning(*message.c))
    if row is not None:
        return row, True
    existing = await one_or_none(session, select(message).where(message.c.idempotency_key == values["idempotency_key"]))
    assert existing is not None
    return existing, False


async def by_idempotency_key(session: AsyncSession, key: str) -> RowMapping | None:
    return await one_or_none(session, select(message).where(message.c.idempotency_key == key))


async def get(session: AsyncSession, message_id: uuid.UUID, *, lock: bool = False) -> RowMapping | None:
    stmt = select(message).where(message.c.id == message_id)
    return await one_or_none(session, stmt.with_for_update() if lock else stmt)


async def get_by_provider_id(session: AsyncSession, provider_id: str, *, lock: bool = False) -> RowMapping | None:
    stmt = select(message).where(message.c.provider_id == provider_id)
    return await one_or_none(session, stmt.with_for_update() if lock else stmt)


async def list_page(session: AsyncSession, *, area_prefixes: list[str], status: str | None, template_key: str | None,
                    limit: int, offset: int) -> tuple[list[RowMapping], int]:
    stmt = select(message)
    if area_prefixes:
        stmt = stmt.where(or_(*[message.c.area_code.startswith(p) for p in area_prefixes]))
    if status:
        stmt = stmt.where(message.c.status == status)
    if template_key:
        stmt = stmt.where(message.c.template_key == template_key)
    return await page(session, stmt.order_by(message.c.created_at.desc(), message.c.id.desc()), limit=limit,
                      offset=offset)


async def events_of(session: AsyncSession, message_id: uuid.UUID) -> Sequence[RowMapping]:
    return await all_rows(session, select(message_event).where(message_event.c.message_id == message_id)
                          .order_by(message_event.c.id))


async def log_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(message_event), [
            {**row, "detail": row.get("detail", {})} for row in rows])


async def expire_stale(session: AsyncSession, now: datetime) -> Sequence[RowMapping]:
    return await all_rows(session, update(message).where(
        message.c.status == "pending", message.c.valid_until <= now,
    ).values(status="expired", final_at=now, updated_at=now).returning(*message.c))


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[RowMapping]:
    """Due pending messages, locked for this dispatcher (other replicas skip them)."""
    stmt = (select(message, opt_out.c.phone.label("opted_out_phone"))
            .outerjoin(opt_out, opt_out.c.phone == message.c.to_phone)
            .where(message.c.status == "pending", message.c.not_before <= now)
            .order_by(message.c.urgent.desc(), message.c.not_before, message.c.id)
            .limit(limit).with_for_update(of=message, skip_locked=True))
    return await all_rows(session, stmt)


async def set_status(session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime, **values: Any) -> None:
    if ids:
        await session.execute(update(message).where(message.c.id.in_(ids)).values(updated_at=now, **values))


async def mark_attempting(session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime) -> None:
    if ids:
        await session.execute(update(message).where(message.c.id.in_(ids)).values(
            status="attempting", attempted_at=now, attempts=message.c.attempts + 1, updated_at=now))


async def record_accepted(session: AsyncSession, accepted: Sequence[dict[str, Any]], now: datetime) -> None:
    """Provider ids for accepted sends; the status moves only if no callback got there first."""
    if not accepted:
        return
    await session.execute(text(
        "UPDATE notify.message m SET provider_id = COALESCE(m.provider_id, a.provider_id), accepted_at = :now, "
        "updated_at = :now, status = CASE WHEN m.status = 'attempting' THEN a.status ELSE m.status END "
        "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS a(id uuid, provider_id text, status text) "
        "WHERE m.id = a.id"), {"now": now, "rows": json.dumps([
            {"id": str(a["id"]), "provider_id": a["provider_id"], "status": a["status"]} for a in accepted])})


async def attempting_before(session: AsyncSession, cutoff: datetime, limit: int) -> Sequence[RowMapping]:
    return await all_rows(session, select(message).where(
        message.c.status == "attempting", message.c.attempted_at <= cutoff,
    ).order_by(message.c.attempted_at).limit(limit).with_for_update(skip_locked=True))


async def provider_ids_taken(session: AsyncSession, provider_ids: Sequence[str]) -> set[str]:
    if not provider_ids:
        return set()
    rows = await session.execute(select(message.c.provider_id).where(message.c.provider_id.in_(provider_ids)))
    return {r[0] for r in rows}


async def cancel_pending(session: AsyncSession, *, cancel_key: str | None = None, to_phone: str | None = None,
                         status: str, now: datetime) -> Sequence[RowMapping]:
    cond = [message.c.status == "pending"]
    if cancel_key is not None:
        cond.append(message.c.cancel_key == cancel_key)
    if to_phone is not None:
        cond.append(message.c.to_phone == to_phone)
    return await all_rows(session, update(message).where(and_(*cond)).values(
        status=status, final_at=now, updated_at=now).returning(message.c.id, message.c.template_key))


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(message.c.status, func.count()).group_by(message.c.status))
    return {r[0]: int(r[1]) for r in rows}


async def cancel_pending_prefix(session: AsyncSession, prefix: str, *, now: datetime) -> Sequence[RowMapping]:
    """Cancel pending messages whose cancel key starts with ``prefix`` (all reminders of one person)."""
    return await all_rows(session, update(message).where(
        message.c.status == "pending", message.c.cancel_key.startswith(prefix, autoescape=True),
    ).values(status="cancelled", final_at=now, updated_at=now).returning(message.c.id))
