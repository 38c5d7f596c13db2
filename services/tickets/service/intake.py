"""Tickets and notes that come from other services' events (never from a read of their data)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.marketplace import ComplaintRaised
from kernel.auth import Identity
from services.tickets.repository.tickets import TicketRepository
from services.tickets.schemas.tickets import Reporter, TicketIn
from services.tickets.service.common import SYSTEM, record
from services.tickets.service.tickets import create_ticket


async def note_person_deceased(session: AsyncSession, person_id: uuid.UUID, at: datetime) -> int:
    """An internal note on each open ticket about the person; returns how many were noted."""
    rows = await TicketRepository(session).open_concerning(person_id)
    for row in rows:
        await record(session, row, at=at, actor=SYSTEM, actor_role="system", kind="comment", public=False,
                     body="The registry records this person as deceased.", data={"source": "registry"})
    return len(rows)


async def complaint_ticket(
    session: AsyncSession, *, source: str, complaint_id: str, area_code: str, title: str, description: str,
    reporter: Reporter, language: str, now: datetime,
) -> Mapping[Any, Any]:
    """A ticket of category ``marketplace_complaint`` for another service's complaint, once per complaint."""
    ref = f"{source}:{complaint_id}"
    existing = await TicketRepository(session).by_source_ref(ref)
    if existing is not None:
        return existing
    identity = Identity(subject=source, kind="system", area_scope=[area_code])
    body = TicketIn(category="marketplace_complaint", title=title, description=description, language=language,
                    area_code=area_code, reporter=reporter, channel="marketplace")
    return await create_ticket(session, identity, body, now, source_ref=ref)


_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


async def marketplace_complaint(session: AsyncSession, event: ComplaintRaised, at: datetime) -> Mapping[Any, Any]:
    """``marketplace.complaint.raised``: the customer is the reporter (SMS to their phone), the booking
    and the parties concerned go into the description; Bengali for Bangladesh, Hindi for India."""
    phone = event.customer_phone if _E164.match(event.customer_phone) else None
    parties = ", ".join(f"{k} {v}" for k, v in (("worker", event.worker_id), ("vendor", event.vendor_id)) if v)
    description = (f"{event.description}\n\nBooking {event.booking_id}; raised by {event.raised_by} "
                   f"({event.channel}){'; ' + parties if parties else ''}.")
    return await complaint_ticket(
        session, source="marketplace", complaint_id=str(event.complaint_id), area_code=event.area_code,
        title=f"Marketplace complaint: {event.category.lower()}", description=description[:5000],
        reporter=Reporter(name="Marketplace customer", phone=phone, relation="citizen"),
        language="bn" if event.area_code.startswith("BD") else "hi", now=at)
