"""Contacts (the registry's persons as notify needs them), opt-outs and anganwadi workers."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import contact, opt_out, worker
from services.notify.repository.common import one_or_none, page


async def upsert_contact(session: AsyncSession, values: dict[str, Any]) -> None:
    """Newer versions win: a late or replayed registry event never overwrites fresher data."""
    stmt = pg_insert(contact).values(**values)
    changes = {k: stmt.excluded[k] for k in values if k != "person_id"}
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["person_id"], set_=changes, where=contact.c.version < stmt.excluded.version))


async def get_contact(session: AsyncSession, person_id: uuid.UUID) -> RowMapping | None:
    return await one_or_none(session, select(contact).where(contact.c.person_id == person_id))


async def set_contact_status(session: AsyncSession, person_id: uuid.UUID, status: str, version: int | None) -> None:
    stmt = contact.update().where(contact.c.person_id == person_id).values(status=status)
    if version is not None:
        stmt = stmt.where(contact.c.version < version).values(version=version)
    await session.execute(stmt)


async def opted_out(session: AsyncSession, phone: str) -> RowMapping | None:
    return await one_or_none(session, select(opt_out).where(opt_out.c.phone == phone))


async def add_opt_out(session: AsyncSession, values: dict[str, Any]) -> bool:
    row = await one_or_none(session, pg_insert(opt_out).values(**values)
                            .on_conflict_do_nothing(index_elements=["phone"]).returning(opt_out.c.phone))
    return row is not None


async def remove_opt_out(session: AsyncSession, phone: str) -> bool:
    return (await one_or_none(session, delete(opt_out).where(opt_out.c.phone == phone)
                              .returning(opt_out.c.phone))) is not None


async def list_opt_outs(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    return await page(session, select(opt_out).order_by(opt_out.c.created_at.desc(), opt_out.c.phone),
                      limit=limit, offset=offset)


async def upsert_worker(session: AsyncSession, values: dict[str, Any]) -> RowMapping:
    stmt = pg_insert(worker).values(**values)
    row = await one_or_none(session, stmt.on_conflict_do_update(
        index_elements=["id"], set_={k: stmt.excluded[k] for k in values if k != "id"}).returning(*worker.c))
    assert row is not None
    return row


async def get_worker(session: AsyncSession, worker_id: str) -> RowMapping | None:
    return await one_or_none(session, select(worker).where(worker.c.id == worker_id))


async def workers_in(session: AsyncSession, limit: int = 10_000) -> list[RowMapping]:
    return list((await session.execute(select(worker).order_by(worker.c.id).limit(limit))).mappings().all())


async def set_preferences(session: AsyncSession, person_id: uuid.UUID, *, prefers_voice: bool,
                          time_zone: str | None) -> RowMapping | None:
    return await one_or_none(session, contact.update().where(contact.c.person_id == person_id)
                             .values(prefers_voice=prefers_voice, time_zone=time_zone).returning(*contact.c))
