"""Bookings, their transitions and extra-work lines."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from services.marketplace.models import booking, booking_extra, booking_otp_failure, booking_transition
from services.marketplace.repository.common import first, paged, rows


class BookingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(booking).values(**values).returning(booking))
        assert row is not None
        return row

    async def get(self, booking_id: uuid.UUID, *, lock: bool = False) -> RowMapping | None:
        stmt = select(booking).where(booking.c.id == booking_id)
        return await first(self.session, stmt.with_for_update() if lock else stmt)

    async def by_beckn(self, bap_id: str, transaction_id: str) -> RowMapping | None:
        return await first(self.session, select(booking).where(
            booking.c.beckn_bap_id == bap_id, booking.c.beckn_transaction_id == transaction_id))

    async def update(self, booking_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = (update(booking).where(booking.c.id == booking_id)
                .values(**values, version=booking.c.version + 1, updated_at=func.now()).returning(booking))
        row = await first(self.session, stmt)
        assert row is not None
        return row

    async def record(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(booking_transition).values(**values))

    async def transitions(self, booking_id: uuid.UUID) -> list[RowMapping]:
        stmt = (select(booking_transition).where(booking_transition.c.booking_id == booking_id)
                .order_by(booking_transition.c.id))
        return list(await rows(self.session, stmt))

    async def otp_failures(self, booking_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(booking_otp_failure.c.booking_id == booking_id)
        return int(await self.session.scalar(stmt) or 0)

    async def record_otp_failure(self, booking_id: uuid.UUID, purpose: str) -> None:
        """In a transaction of its own, so the count survives the failed request's rollback."""
        engine = self.session.bind
        async with engine.connect() as conn:  # type: ignore[union-attr]
            await conn.execute(insert(booking_otp_failure).values(booking_id=booking_id, purpose=purpose))
            await conn.commit()

    async def add_extra(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(booking_extra).values(**values).returning(booking_extra))
        assert row is not None
        return row

    async def extras(self, booking_id: uuid.UUID) -> list[RowMapping]:
        stmt = (select(booking_extra).where(booking_extra.c.booking_id == booking_id)
                .order_by(booking_extra.c.added_at, booking_extra.c.id))
        return list(await rows(self.session, stmt))

    async def page(self, scopes: Sequence[str], customer_subject: str | None, *, status: str | None,
                   channel: str | None, since: datetime | None, limit: int, offset: int
                   ) -> tuple[list[RowMapping], int]:
        stmt = select(booking).where(within_any(booking.c.area_code, list(scopes)))
        if customer_subject is not None:
            stmt = stmt.where(booking.c.customer_subject == customer_subject)
        if status:
            stmt = stmt.where(booking.c.status == status)
        if channel:
            stmt = stmt.where(booking.c.channel == channel)
        if since:
            stmt = stmt.where(booking.c.created_at >= since)
        stmt = stmt.order_by(booking.c.created_at.desc(), booking.c.id.desc())
        return await paged(self.session, stmt, limit=limit, offset=offset)
