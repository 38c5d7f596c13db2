"""Help desks, their agents, calendars with holidays, and SLA policies."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import parse_area_code
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, NotFound, ValidationProblem
from kernel.roles import require
from kernel.scheduler import schedule
from services.tickets import SERVICE
from services.tickets.repository.desks import AgentRepository, CalendarRepository, DeskRepository, SlaPolicyRepository
from services.tickets.rules.access import ADMIN_SCOPE
from services.tickets.schemas.desks import AgentIn, CalendarIn, CalendarPatch, DeskIn, DeskPatch, HolidayIn, SlaPolicyIn
from services.tickets.service import closing
from services.tickets.service.sla import recompute
from services.tickets.service.sla.clocks import GAUGES_JOB


def require_admin(identity: Identity) -> None:
    require(identity, ADMIN_SCOPE, doing="set up help desks, calendars and SLA targets")


async def create_calendar(session: AsyncSession, identity: Identity, body: CalendarIn) -> RowMapping:
    require_admin(identity)
    repo = CalendarRepository(session)
    if await repo.by_name(body.name) is not None:
        raise Conflict(f"A calendar named {body.name!r} exists.")
    if body.parent_id is not None and await repo.get(body.parent_id) is None:
        raise ValidationProblem("No such parent calendar", errors=[{"field": "parent_id", "reason": "unknown"}])
    return await repo.insert(body.model_dump())


async def get_calendar(session: AsyncSession, calendar_id: uuid.UUID) -> RowMapping:
    row = await CalendarRepository(session).get(calendar_id)
    if row is None:
        raise NotFound(f"No calendar {calendar_id}.")
    return row


async def list_calendars(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    return await CalendarRepository(session).list_page(limit=limit, offset=offset)


async def list_holidays(session: AsyncSession, calendar_id: uuid.UUID, *, limit: int,
                        offset: int) -> tuple[list[RowMapping], int]:
    await get_calendar(session, calendar_id)
    return await CalendarRepository(session).holidays_page(calendar_id, limit=limit, offset=offset)


async def add_holiday(session: AsyncSession, identity: Identity, calendar_id: uuid.UUID, body: HolidayIn,
                      now: datetime) -> RowMapping:
    require_admin(identity)
    await get_calendar(session, calendar_id)
    row = await CalendarRepository(session).add_holiday(calendar_id, body.day, body.name, body.kind)
    await recompute.start(session, recompute.CALENDAR, calendar_id, now)
    return row


async def remove_holiday(session: AsyncSession, identity: Identity, calendar_id: uuid.UUID, day: date,
                         now: datetime) -> None:
    """A holiday withdrawn: the running deadlines of the desks on the calendar come back earlier."""
    require_admin(identity)
    await get_calendar(session, calendar_id)
    if await CalendarRepository(session).remove_holiday(calendar_id, day) is None:
        raise NotFound(f"No holiday on {day} in this calendar.")
    await recompute.start(session, recompute.CALENDAR, calendar_id, now)


async def change_calendar(session: AsyncSession, identity: Identity, calendar_id: uuid.UUID, body: CalendarPatch,
                          now: datetime) -> RowMapping:
    """New working hours, zone, off-Saturdays or parent; every running clock on it is counted again."""
    require_admin(identity)
    repo = CalendarRepository(session)
    await get_calendar(session, calendar_id)
    values = body.model_dump(exclude_unset=True)
    if "parent_id" in values and values["parent_id"] is not None:
        if values["parent_id"] == calendar_id or await repo.get(values["parent_id"]) is None:
            raise ValidationProblem("No such parent calendar",
                                    errors=[{"field": "parent_id", "reason": "unknown, or the calendar itself"}])
    row = await repo.bump(calendar_id, values)
    await recompute.start(session, recompute.CALENDAR, calendar_id, now)
    return row


async def create_desk(session: AsyncSession, identity: Identity, body: DeskIn, now: datetime) -> RowMapping:
    require_admin(identity)
    if not identity.can_access_area(body.area_code):
        raise Forbidden(f"Area {body.area_code} is outside your area scope.")
    code = parse_area_code(body.area_code)
    if code.depth == 0:
        raise ValidationProblem("A desk serves a state/division or below",
                                errors=[{"field": "area_code", "reason": "a country is too wide"}])
    if await CalendarRepository(session).get(body.calendar_id) is None:
        raise ValidationProblem("No such calendar", errors=[{"field": "calendar_id", "reason": "unknown"}])
    if await DeskRepository(session).by_name(body.name, body.area_code) is not None:
        raise Conflict(f"A desk named {body.name!r} exists for {body.area_code}.")
    row = await DeskRepository(session).insert(body.model_dump() | {"level": code.level})
    # The gauges' recount is a recurring job; a deployment has it once it has a desk (first schedule wins).
    await schedule(session, SERVICE, kind=GAUGES_JOB, key="all", due_at=now, replace=False)
    return row


async def change_desk(session: AsyncSession, identity: Identity, desk_id: uuid.UUID, body: DeskPatch) -> RowMapping:
    """Auto-close days (the desk's resolved tickets move with them) or whether it takes new tickets."""
    require_admin(identity)
    await get_desk(session, identity, desk_id)
    values = body.model_dump(exclude_unset=True)
    row = await DeskRepository(session).update(desk_id, values) if values else await get_desk(session, identity,
                                                                                               desk_id)
    if "auto_close_days" in values:
        await closing.desk_policy_changed(session, row)
    return row


async def get_desk(session: AsyncSession, identity: Identity, desk_id: uuid.UUID) -> RowMapping:
    row = await DeskRepository(session).get(desk_id)
    if row is None or not identity.can_access_area(row["area_code"]):
        raise NotFound("No such desk in your area.")
    return row


async def list_desks(session: AsyncSession, identity: Identity, *, limit: int,
                     offset: int) -> tuple[list[RowMapping], int]:
    return await DeskRepository(session).list_page(identity.area_scope, limit=limit, offset=offset)


async def add_agent(session: AsyncSession, identity: Identity, desk_id: uuid.UUID, body: AgentIn) -> RowMapping:
    require_admin(identity)
    await get_desk(session, identity, desk_id)
    return await AgentRepository(session).upsert(desk_id, body.subject, body.display_name)


async def list_agents(session: AsyncSession, identity: Identity, desk_id: uuid.UUID, *, limit: int,
                      offset: int) -> tuple[list[RowMapping], int]:
    await get_desk(session, identity, desk_id)
    return await AgentRepository(session).list_page(desk_id, limit=limit, offset=offset)


async def put_policy(session: AsyncSession, identity: Identity, body: SlaPolicyIn, now: datetime) -> RowMapping:
    """A new version of the level and category's targets; the live clocks it governs take it (recompute)."""
    require_admin(identity)
    if body.resolution_minutes < body.first_response_minutes:
        raise ValidationProblem("Resolution cannot be due before the first response",
                                errors=[{"field": "resolution_minutes", "reason": "below first_response_minutes"}])
    row, changed = await SlaPolicyRepository(session).upsert(body.model_dump(), at=now, by=identity.subject)
    if changed:
        await recompute.start(session, recompute.POLICY, row["id"], now)
    return row


async def policy_versions(session: AsyncSession, policy_id: uuid.UUID) -> list[RowMapping]:
    rows = await SlaPolicyRepository(session).versions(policy_id)
    if not rows:
        raise NotFound(f"No SLA policy {policy_id}.")
    return rows


async def list_policies(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    return await SlaPolicyRepository(session).list_page(limit=limit, offset=offset)
