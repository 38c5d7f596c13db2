"""Immunisation due lists and reminders (filled in below)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.metrics import REMINDERS
from services.notify.repository import messages as messages_repo


def dose_cancel_key(person_id: uuid.UUID, code: str) -> str:
    return f"dose:{person_id}:{code}"


async def cancel_person_reminders(session: AsyncSession, person_id: uuid.UUID, now: datetime) -> int:
    rows = await messages_repo.cancel_pending_prefix(session, f"dose:{person_id}:", now=now)
    REMINDERS.labels("cancelled").inc(len(rows))
    return len(rows)
