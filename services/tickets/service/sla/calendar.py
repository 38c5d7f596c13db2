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


# Parsed calendars by id, with the versions they were loaded at (the calendar's and its parent's): every
# change of hours, zone, Saturdays, parent or holidays bumps a version, so a request that read the current
# versions (the routing query does) reuses a calendar only while it is current, on every replica.
_CACHE: dict[uuid.UUID, tuple[tuple[int, int | None], BusinessCalendar]] = {}
CACHE_SIZE = 10_000


async def current_calendar(session: AsyncSession, calendar_id: uuid.UUID, version: int,
                           parent_version: int | None) -> BusinessCalendar:
    """The calendar at these versions, from the cache when it holds them, else loaded (two queries)."""
    hit = _CACHE.get(calendar_id)
    if hit is not None and hit[0] == (version, parent_version):
        return hit[1]
    loaded = await load_calendar(session, calendar_id)
    if len(_CACHE) >= CACHE_SIZE:
        _CACHE.clear()
    _CACHE[calendar_id] = ((version, parent_version), loaded)
    return loaded
