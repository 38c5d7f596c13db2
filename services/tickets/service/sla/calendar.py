"""A desk's business calendar from the database: hours, time zone, its own and its parent's holidays."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import NotFound
from services.tickets.repository.desks import CalendarRepository
from services.tickets.rules.calendar import BusinessCalendar, build_calendar


async def load_calendar(session: AsyncSession, calendar_id: uuid.UUID) -> BusinessCalendar:
    repo = CalendarRepository(session)
    row = await repo.get(calendar_id)
    if row is None:
        raise NotFound(f"No calendar {calendar_id}.")
    ids = [calendar_id] + ([row["parent_id"]] if row["parent_id"] else [])
    holidays = frozenset(h["day"] for h in await repo.holidays(ids))
    return build_calendar(row["timezone"], row["working_hours"], holidays, row["saturdays_off"])
