"""Webhook subscriptions, deliveries and their attempts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import webhook_attempt, webhook_delivery, webhook_subscription
from services.notify.repository.common import all_rows, one_or_none, page


async def create_subscription(session: AsyncSession, values: dict[str, Any]) -> RowMapping:
    row = await one_or_none(session, insert(webhook_subscription).values(**values)
                            .returning(*webhook_subscription.c))
    assert row is not None
    return row


async def get_subscription(session: AsyncSession, subscription_id: uuid.UUID, *,
                           lock: bool = False) -> RowMapping | None:
    stmt = select(webhook_subscription).where(webhook_subscription.c.id == subscription_id)
    return await one_or_none(session, stmt.with_for_update() if lock else stmt)


async def update_subscription(session: AsyncSession, subscription_id: uuid.UUID, now: datetime,
                              **values: Any) -> RowMapping | None:
    return await one_or_none(session, update(webhook_subscription)
                             .where(webhook_subscription.c.id == subscription_id)
                             .values(updated_at=now, **values).returning(*webhook_subscription.c))


async def list_subscriptions(session: AsyncSession, *, owner: str | None, limit: int,
                             offset: int) -> tuple[list[RowMapping], int]:
    stmt = select(webhook_subscription).where(webhook_subscription.c.status != "disabled")
    if owner is not None:
        stmt = stmt.where(webhook_subscription.c.owner == owner)
    return await page(session, stmt.order_by(webhook_subscription.c.created_at, webhook_subscription.c.id),
                      limit=limit, offset=offset)


async def active_subscriptions(session: AsyncSession) -> Sequence[RowMapping]:
    return await all_rows(session, select(webhook_subscription).where(webhook_subscription.c.status == "active"))


async def add_delivery(session: AsyncSession, values: dict[str, Any]) -> RowMapping | None:
    """The new delivery, or None when this subscription already has one for the event (a redelivered event)."""
    return await one_or_none(session, pg_insert(webhook_delivery).values(**values)
                             .on_conflict_do_nothing(constraint="uq_webhook_delivery_event")
                             .returning(webhook_delivery.c.id, webhook_delivery.c.lane))


async def next_in_lane(session: AsyncSession, subscription_id: uuid.UUID, lane: str) -> RowMapping | None:
    """The lane's first pending delivery (entity version, then arrival), locked for this worker."""
    return await one_or_none(session, select(webhook_delivery).where(
        webhook_delivery.c.subscription_id == subscription_id, webhook_delivery.c.lane == lane,
        webhook_delivery.c.status == "pending",
    ).order_by(webhook_delivery.c.entity_version.asc().nulls_first(), webhook_delivery.c.seq)
        .limit(1).with_for_update())


async def set_delivery(session: AsyncSession, delivery_id: uuid.UUID, now: datetime, **values: Any) -> None:
    await session.execute(update(webhook_delivery).where(webhook_delivery.c.id == delivery_id)
                          .values(updated_at=now, **values))


async def get_delivery(session: AsyncSession, delivery_id: uuid.UUID, *, lock: bool = False) -> RowMapping | None:
    stmt = select(webhook_delivery).where(webhook_delivery.c.id == delivery_id)
    return await one_or_none(session, stmt.with_for_update() if lock else stmt)


async def log_attempt(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(webhook_attempt).values(**values))


async def attempts_of(session: AsyncSession, delivery_id: uuid.UUID) -> Sequence[RowMapping]:
    return await all_rows(session, select(webhook_attempt).where(webhook_attempt.c.delivery_id == delivery_id)
                          .order_by(webhook_attempt.c.id))


async def deliveries_page(session: AsyncSession, subscription_id: uuid.UUID, *, status: str | None,
                          event_type: str | None, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    stmt = select(webhook_delivery).where(webhook_delivery.c.subscription_id == subscription_id)
    if status:
        stmt = stmt.where(webhook_delivery.c.status == status)
    if event_type:
        stmt = stmt.where(webhook_delivery.c.event_type == event_type)
    return await page(session, stmt.order_by(webhook_delivery.c.created_at.desc(), webhook_delivery.c.id.desc()),
                      limit=limit, offset=offset)


async def pending_lanes(session: AsyncSession, subscription_id: uuid.UUID) -> list[str]:
    rows = await session.execute(select(webhook_delivery.c.lane).distinct().where(
        webhook_delivery.c.subscription_id == subscription_id, webhook_delivery.c.status == "pending"))
    return [r[0] for r in rows]


async def release_pending(session: AsyncSession, subscription_id: uuid.UUID, now: datetime) -> None:
    """Pending deliveries may be tried at once (the subscription was resumed)."""
    await session.execute(update(webhook_delivery).where(
        webhook_delivery.c.subscription_id == subscription_id, webhook_delivery.c.status == "pending",
    ).values(next_attempt_at=now, updated_at=now))


async def cancel_pending(session: AsyncSession, subscription_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(update(webhook_delivery).where(
        webhook_delivery.c.subscription_id == subscription_id, webhook_delivery.c.status == "pending",
    ).values(status="cancelled", updated_at=now).returning(webhook_delivery.c.id))
    return len(result.all())


async def record_failure(session: AsyncSession, subscription_id: uuid.UUID, now: datetime,
                         backoff_seconds: int) -> RowMapping:
    """One more consecutive failure; the endpoint gets no attempt before ``retry_at``."""
    row = await one_or_none(session, update(webhook_subscription)
                            .where(webhook_subscription.c.id == subscription_id)
                            .values(consecutive_failures=webhook_subscription.c.consecutive_failures + 1,
                                    retry_at=now + timedelta(seconds=backoff_seconds),
                                    updated_at=now)
                            .returning(*webhook_subscription.c))
    assert row is not None
    return row


async def record_success(session: AsyncSession, subscription_id: uuid.UUID, now: datetime) -> None:
    await session.execute(update(webhook_subscription).where(
        webhook_subscription.c.id == subscription_id,
        or_(webhook_subscription.c.consecutive_failures > 0, webhook_subscription.c.retry_at.is_not(None)),
    ).values(consecutive_failures=0, retry_at=None, updated_at=now))


async def try_probe_lock(session: AsyncSession, subscription_id: uuid.UUID) -> bool:
    """One attempt at a time to an endpoint that has been failing (held to the end of the transaction)."""
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(
        func.hashtextextended(f"notify.webhook:{subscription_id}", 0)))))


async def delivery_counts(session: AsyncSession, subscription_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(select(webhook_delivery.c.status, func.count()).where(
        webhook_delivery.c.subscription_id == subscription_id).group_by(webhook_delivery.c.status))
    return {r[0]: int(r[1]) for r in rows}
