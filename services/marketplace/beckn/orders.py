"""Beckn orders from bookings, and the unsolicited ``on_status`` every state change of a Beckn
booking sends (new ``message_id``, the order's ``transaction_id``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.marketplace.beckn import shapes
from services.marketplace.beckn.callbacks import enqueue
from services.marketplace.repository.catalog import CatalogRepository
from services.marketplace.repository.workers import WorkerRepository
from services.marketplace.settings import get_marketplace_settings


async def order_message(session: AsyncSession, row: Mapping[Any, Any], **codes: str) -> dict[str, Any]:
    job = await CatalogRepository(session).item(row["job_code"])
    worker = await WorkerRepository(session).get(row["worker_id"]) if row["worker_id"] else None
    assert job is not None
    return {"order": shapes.order(row, job, worker, **codes)}


def booking_context(row: Mapping[Any, Any]) -> dict[str, Any]:
    s = get_marketplace_settings()
    return {"domain": s.beckn_domain, "version": s.beckn_version, "location": {"country": {"code": s.beckn_country}},
            "bap_id": row["beckn_bap_id"], "bap_uri": row["beckn_bap_uri"],
            "transaction_id": row["beckn_transaction_id"], "message_id": str(uuid.uuid4())}


async def status_changed(session: AsyncSession, row: Mapping[Any, Any], now: datetime) -> None:
    """Tell the BAP about the booking's new state (once per row version), due at the service clock's
    ``now`` like every other job of the transaction."""
    if row["channel"] != "beckn" or not row["beckn_bap_uri"]:
        return
    context = booking_context(row)
    await enqueue(session, context, "on_status", await order_message(session, row), now,
                  key=f"status:{row['id']}:{row['version']}", message_id=context["message_id"])
