"""Beckn subscribers, seen messages and callbacks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.marketplace.models import beckn_callback, beckn_message, beckn_subscriber
from services.marketplace.repository.common import first, paged


class BecknRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert_subscriber(self, values: dict[str, Any]) -> RowMapping:
        stmt = pg_insert(beckn_subscriber).values(**values)
        upsert = stmt.on_conflict_do_update(
            constraint="pk_beckn_subscriber",
            set_={k: stmt.excluded[k] for k in values if k not in ("subscriber_id", "unique_key_id")},
        ).returning(beckn_subscriber)
        row = await first(self.session, upsert)
        assert row is not None
        return row

    async def subscribers(self, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(beckn_subscriber).order_by(beckn_subscriber.c.subscriber_id, beckn_subscriber.c.unique_key_id)
        return await paged(self.session, stmt, limit=limit, offset=offset)

    async def signing_key(self, subscriber_id: str, unique_key_id: str, now: datetime) -> str | None:
        stmt = select(beckn_subscriber.c.signing_public_key).where(
            beckn_subscriber.c.subscriber_id == subscriber_id, beckn_subscriber.c.unique_key_id == unique_key_id,
            beckn_subscriber.c.status == "SUBSCRIBED",
            (beckn_subscriber.c.valid_until.is_(None)) | (beckn_subscriber.c.valid_until > now))
        return await self.session.scalar(stmt)

    async def first_sight(self, bap_id: str, message_id: str, action: str, transaction_id: str) -> bool:
        """True the first time this (BAP, message, action) arrives: the dedup key of BAP retries."""
        stmt = pg_insert(beckn_message).values(bap_id=bap_id, message_id=message_id, action=action,
                                               transaction_id=transaction_id)
        result = await self.session.execute(stmt.on_conflict_do_nothing().returning(beckn_message.c.message_id))
        return result.first() is not None

    async def add_callback(self, values: dict[str, Any]) -> uuid.UUID | None:
        stmt = pg_insert(beckn_callback).values(**values).on_conflict_do_nothing().returning(beckn_callback.c.id)
        return (await self.session.execute(stmt)).scalar()

    async def callback(self, callback_id: uuid.UUID) -> RowMapping | None:
        return await first(self.session, select(beckn_callback).where(beckn_callback.c.id == callback_id))

    async def callback_done(self, callback_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.session.execute(update(beckn_callback).where(beckn_callback.c.id == callback_id).values(**values))

    async def callbacks_for(self, key_prefix: str) -> list[RowMapping]:
        stmt = (select(beckn_callback).where(beckn_callback.c.idempotency_key.startswith(key_prefix))
                .order_by(beckn_callback.c.created_at, beckn_callback.c.id))
        return list((await self.session.execute(stmt)).mappings().all())



