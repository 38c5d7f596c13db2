"""Help desks, agents, calendars, holidays and SLA policies."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Response, status

from kernel.db import DbSession
from services.tickets.routes.common import Limit, Now, Offset, Reader, Writer
from services.tickets.schemas.common import Page
from services.tickets.schemas.desks import (
    AgentIn,
    AgentOut,
    CalendarIn,
    CalendarOut,
    CalendarPatch,
    DeskIn,
    DeskOut,
    DeskPatch,
    HolidayIn,
    HolidayOut,
    SlaPolicyIn,
    SlaPolicyOut,
    SlaPolicyVersionOut,
)
from services.tickets.schemas.tickets import QueueItem
from services.tickets.service import desks, views

router = APIRouter(tags=["desks"])


@router.post("/calendars", status_code=status.HTTP_201_CREATED, response_model=CalendarOut,
             summary="A business calendar: time zone, working hours, off-Saturdays (needs tickets:admin)")
async def create_calendar(body: CalendarIn, session: DbSession, identity: Writer) -> CalendarOut:
    return CalendarOut.model_validate(dict(await desks.create_calendar(session, identity, body)))


@router.get("/calendars", response_model=Page[CalendarOut], summary="Calendars, by name")
async def list_calendars(session: DbSession, identity: Reader, limit: Limit = 50,
                         offset: Offset = 0) -> Page[CalendarOut]:
    rows, total = await desks.list_calendars(session, limit=limit, offset=offset)
    return Page(items=[CalendarOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/calendars/{calendar_id}", response_model=CalendarOut, summary="A calendar")
async def get_calendar(calendar_id: uuid.UUID, session: DbSession, identity: Reader) -> CalendarOut:
    return CalendarOut.model_validate(dict(await desks.get_calendar(session, calendar_id)))


@router.patch("/calendars/{calendar_id}", response_model=CalendarOut,
              summary="Change working hours, time zone, off-Saturdays or parent; running deadlines are counted "
                      "again (needs tickets:admin)")
async def change_calendar(calendar_id: uuid.UUID, body: CalendarPatch, session: DbSession, identity: Writer,
                          now: Now) -> CalendarOut:
    return CalendarOut.model_validate(dict(await desks.change_calendar(session, identity, calendar_id, body, now)))


@router.put("/calendars/{calendar_id}/holidays", response_model=HolidayOut,
            summary="Add or rename a holiday (national, state gazetted or local); running deadlines move. "
                    "Needs tickets:admin")
async def add_holiday(calendar_id: uuid.UUID, body: HolidayIn, session: DbSession, identity: Writer,
                      now: Now) -> HolidayOut:
    return HolidayOut.model_validate(dict(await desks.add_holiday(session, identity, calendar_id, body, now)))


@router.delete("/calendars/{calendar_id}/holidays/{day}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Withdraw a holiday; running deadlines move back (needs tickets:admin)")
async def remove_holiday(calendar_id: uuid.UUID, day: date, session: DbSession, identity: Writer,
                         now: Now) -> Response:
    await desks.remove_holiday(session, identity, calendar_id, day, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/calendars/{calendar_id}/holidays", response_model=Page[HolidayOut], summary="Holidays, by day")
async def list_holidays(calendar_id: uuid.UUID, session: DbSession, identity: Reader, limit: Limit = 100,
                        offset: Offset = 0) -> Page[HolidayOut]:
    rows, total = await desks.list_holidays(session, calendar_id, limit=limit, offset=offset)
    return Page(items=[HolidayOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/desks", status_code=status.HTTP_201_CREATED, response_model=DeskOut,
             summary="A help desk for an area; its level follows from the area (needs tickets:admin)")
async def create_desk(body: DeskIn, session: DbSession, identity: Writer, now: Now) -> DeskOut:
    return DeskOut.model_validate(dict(await desks.create_desk(session, identity, body, now)))


@router.patch("/desks/{desk_id}", response_model=DeskOut,
              summary="Auto-close days (the desk's resolved tickets follow) or active (needs tickets:admin)")
async def change_desk(desk_id: uuid.UUID, body: DeskPatch, session: DbSession, identity: Writer) -> DeskOut:
    return DeskOut.model_validate(dict(await desks.change_desk(session, identity, desk_id, body)))


@router.get("/desks", response_model=Page[DeskOut], summary="Desks in your area and above it, by area")
async def list_desks(session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0) -> Page[DeskOut]:
    rows, total = await desks.list_desks(session, identity, limit=limit, offset=offset)
    return Page(items=[DeskOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/desks/{desk_id}", response_model=DeskOut, summary="A desk")
async def get_desk(desk_id: uuid.UUID, session: DbSession, identity: Reader) -> DeskOut:
    return DeskOut.model_validate(dict(await desks.get_desk(session, identity, desk_id)))


@router.put("/desks/{desk_id}/agents", response_model=AgentOut, summary="Add an agent to a desk (needs tickets:admin)")
async def add_agent(desk_id: uuid.UUID, body: AgentIn, session: DbSession, identity: Writer) -> AgentOut:
    return AgentOut.model_validate(dict(await desks.add_agent(session, identity, desk_id, body)))


@router.get("/desks/{desk_id}/agents", response_model=Page[AgentOut], summary="A desk's agents")
async def list_agents(desk_id: uuid.UUID, session: DbSession, identity: Reader, limit: Limit = 50,
                      offset: Offset = 0) -> Page[AgentOut]:
    rows, total = await desks.list_agents(session, identity, desk_id, limit=limit, offset=offset)
    return Page(items=[AgentOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/desks/{desk_id}/queue", response_model=Page[QueueItem],
            summary="The desk's open tickets, nearest deadline first, with business time left")
async def desk_queue(desk_id: uuid.UUID, session: DbSession, identity: Reader, now: Now, limit: Limit = 50,
                     offset: Offset = 0) -> Page[QueueItem]:
    items, total = await views.queue(session, identity, desk_id, now, limit=limit, offset=offset)
    return Page(items=[QueueItem.model_validate(i) for i in items], total=total, limit=limit, offset=offset)


@router.put("/sla-policies", response_model=SlaPolicyOut,
            summary="Set the first-response and resolution targets of a level and category (business minutes): a "
                    "new version; the live clocks it governs take it, deadlines and breach jobs move")
async def put_policy(body: SlaPolicyIn, session: DbSession, identity: Writer, now: Now) -> SlaPolicyOut:
    return SlaPolicyOut.model_validate(dict(await desks.put_policy(session, identity, body, now)))


@router.get("/sla-policies/{policy_id}/versions", response_model=list[SlaPolicyVersionOut],
            summary="Every version of a policy, oldest first (who changed it, when)")
async def policy_versions(policy_id: uuid.UUID, session: DbSession, identity: Reader) -> list[SlaPolicyVersionOut]:
    return [SlaPolicyVersionOut.model_validate(dict(r)) for r in await desks.policy_versions(session, policy_id)]


@router.get("/sla-policies", response_model=Page[SlaPolicyOut], summary="SLA policies, by level and category")
async def list_policies(session: DbSession, identity: Reader, limit: Limit = 100,
                        offset: Offset = 0) -> Page[SlaPolicyOut]:
    rows, total = await desks.list_policies(session, limit=limit, offset=offset)
    return Page(items=[SlaPolicyOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)
