"""Help desks, agents, calendars, holidays and SLA policies."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from kernel.db import DbSession
from services.tickets.routes.common import CalendarId, DeskId, Limit, Now, Offset, Reader, Writer
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
HolidayDay = Annotated[date, Path(description="The holiday's day (YYYY-MM-DD)", examples=["2027-01-26"])]
PolicyId = Annotated[uuid.UUID, Path(description="The policy's id (from GET /sla-policies)")]


@router.post("/calendars", status_code=status.HTTP_201_CREATED, response_model=CalendarOut,
             summary="A business calendar: time zone, working hours, off-Saturdays (needs tickets:admin)")
async def create_calendar(body: CalendarIn, session: DbSession, identity: Writer) -> CalendarOut:
    """A business calendar that SLA deadlines are counted in: time zone (Asia/Kolkata, Asia/Dhaka),
    working hours per weekday, which Saturdays of the month are off, and optionally a parent (the
    national calendar) whose holidays apply too. Deadlines only run during its working time.

    **Who:** `tickets:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `tickets:admin`; 409 a calendar of that name exists; 422 an unknown parent,
    a malformed or midnight-crossing range of hours.
    """
    return CalendarOut.model_validate(dict(await desks.create_calendar(session, identity, body)))


@router.get("/calendars", response_model=Page[CalendarOut], summary="Calendars, by name")
async def list_calendars(session: DbSession, identity: Reader, limit: Limit = 50,
                         offset: Offset = 0) -> Page[CalendarOut]:
    """Every business calendar, by name, with its working hours and off-Saturdays.

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await desks.list_calendars(session, limit=limit, offset=offset)
    return Page(items=[CalendarOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/calendars/{calendar_id}", response_model=CalendarOut, summary="A calendar")
async def get_calendar(calendar_id: CalendarId, session: DbSession, identity: Reader) -> CalendarOut:
    """One business calendar.

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 404 no such calendar.
    """
    return CalendarOut.model_validate(dict(await desks.get_calendar(session, calendar_id)))


@router.patch("/calendars/{calendar_id}", response_model=CalendarOut,
              summary="Change working hours, time zone, off-Saturdays or parent; running deadlines are counted "
                      "again (needs tickets:admin)")
async def change_calendar(calendar_id: CalendarId, body: CalendarPatch, session: DbSession, identity: Writer,
                          now: Now) -> CalendarOut:
    """Change the calendar's working hours (the whole week), time zone, off-Saturdays or parent
    (null: none). Only the fields sent change; the version goes up and the running SLA deadlines of
    the desks on it are counted again (the first ones in this request, the rest on the scheduler).

    **Who:** `tickets:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `tickets:admin`; 404 no such calendar; 422 an unknown parent, a field sent
    as null that cannot be, a malformed or midnight-crossing range of hours.
    """
    return CalendarOut.model_validate(dict(await desks.change_calendar(session, identity, calendar_id, body, now)))


@router.put("/calendars/{calendar_id}/holidays", response_model=HolidayOut,
            summary="Add or rename a holiday (national, state gazetted or local); running deadlines move. "
                    "Needs tickets:admin")
async def add_holiday(calendar_id: CalendarId, body: HolidayIn, session: DbSession, identity: Writer,
                      now: Now) -> HolidayOut:
    """Add a holiday to the calendar (or rename the one on that day): a national, state gazetted or
    local holiday on which SLA clocks do not run. Running deadlines of the desks on the calendar move.

    **Who:** `tickets:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `tickets:admin`; 404 no such calendar; 422 a malformed day or name.
    """
    return HolidayOut.model_validate(dict(await desks.add_holiday(session, identity, calendar_id, body, now)))


@router.delete("/calendars/{calendar_id}/holidays/{day}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Withdraw a holiday; running deadlines move back (needs tickets:admin)")
async def remove_holiday(calendar_id: CalendarId, day: HolidayDay, session: DbSession, identity: Writer,
                         now: Now) -> Response:
    """Withdraw the holiday on `day` (gazetted by mistake, or moved): running deadlines move back.

    **Who:** `tickets:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `tickets:admin`; 404 no such calendar, or no holiday on that day.
    """
    await desks.remove_holiday(session, identity, calendar_id, day, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/calendars/{calendar_id}/holidays", response_model=Page[HolidayOut], summary="Holidays, by day")
async def list_holidays(calendar_id: CalendarId, session: DbSession, identity: Reader, limit: Limit = 100,
                        offset: Offset = 0) -> Page[HolidayOut]:
    """The calendar's own holidays, by day (a parent calendar's holidays apply too but are listed
    there).

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 404 no such calendar.
    """
    rows, total = await desks.list_holidays(session, calendar_id, limit=limit, offset=offset)
    return Page(items=[HolidayOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/desks", status_code=status.HTTP_201_CREATED, response_model=DeskOut,
             summary="A help desk for an area; its level follows from the area (needs tickets:admin)")
async def create_desk(body: DeskIn, session: DbSession, identity: Writer, now: Now) -> DeskOut:
    """A help desk that takes tickets for an area and below: its level (block/upazila, district, state/
    division) follows from the area code; `categories` narrows what it takes (empty: everything). A
    ticket goes to the nearest desk at or above its area that takes its category, and escalates to
    the next desk above.

    **Who:** `tickets:admin`: the admin role, or a client given that scope (it passes the gateway on its own).
    The area must be in the caller's scope.

    **Errors:** 403 without `tickets:admin`, or an area outside your scope; 409 a desk of that name
    exists for the area; 422 an area below block/upazila or above state/division, an unknown calendar.
    """
    return DeskOut.model_validate(dict(await desks.create_desk(session, identity, body, now)))


@router.patch("/desks/{desk_id}", response_model=DeskOut,
              summary="Auto-close days (the desk's resolved tickets follow) or active (needs tickets:admin)")
async def change_desk(desk_id: DeskId, body: DeskPatch, session: DbSession, identity: Writer) -> DeskOut:
    """Change the desk's auto-close days (after how many days a resolved ticket closes on its own; null:
    the service default; 0: never; the desk's tickets already resolved follow) or take it out of
    routing (`active: false`: it takes no new tickets). Only the fields sent change.

    **Who:** `tickets:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `tickets:admin`; 404 no such desk in your area; 422 days outside 0-365, or
    `active` sent as null.
    """
    return DeskOut.model_validate(dict(await desks.change_desk(session, identity, desk_id, body)))


@router.get("/desks", response_model=Page[DeskOut], summary="Desks in your area and above it, by area")
async def list_desks(session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0) -> Page[DeskOut]:
    """The desks serving your area: those at or above an area in your scope, by area.

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await desks.list_desks(session, identity, limit=limit, offset=offset)
    return Page(items=[DeskOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/desks/{desk_id}", response_model=DeskOut, summary="A desk")
async def get_desk(desk_id: DeskId, session: DbSession, identity: Reader) -> DeskOut:
    """One desk: its area, level, categories, calendar and whether it is active.

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 404 no such desk in your area.
    """
    return DeskOut.model_validate(dict(await desks.get_desk(session, identity, desk_id)))


@router.put("/desks/{desk_id}/agents", response_model=AgentOut, summary="Add an agent to a desk (needs tickets:admin)")
async def add_agent(desk_id: DeskId, body: AgentIn, session: DbSession, identity: Writer) -> AgentOut:
    """Make an operator (their gateway user name) an agent of the desk, so tickets can be assigned to
    them. The operator also needs a help-desk role (`tickets:work`) to work tickets.

    **Who:** `tickets:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `tickets:admin`; 404 no such desk in your area; 422 a malformed user name.
    """
    return AgentOut.model_validate(dict(await desks.add_agent(session, identity, desk_id, body)))


@router.get("/desks/{desk_id}/agents", response_model=Page[AgentOut], summary="A desk's agents")
async def list_agents(desk_id: DeskId, session: DbSession, identity: Reader, limit: Limit = 50,
                      offset: Offset = 0) -> Page[AgentOut]:
    """The desk's agents and whether each is active.

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 404 no such desk in your area.
    """
    rows, total = await desks.list_agents(session, identity, desk_id, limit=limit, offset=offset)
    return Page(items=[AgentOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/desks/{desk_id}/queue", response_model=Page[QueueItem],
            summary="The desk's open tickets, nearest deadline first, with business time left")
async def desk_queue(desk_id: DeskId, session: DbSession, identity: Reader, now: Now, limit: Limit = 50,
                     offset: Offset = 0) -> Page[QueueItem]:
    """The desk's open tickets, nearest deadline first, each with its running SLA clock and the business
    time left (negative when breached), counted in the desk's calendar.

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 404 no such desk in your area.
    """
    items, total = await views.queue(session, identity, desk_id, now, limit=limit, offset=offset)
    return Page(items=[QueueItem.model_validate(i) for i in items], total=total, limit=limit, offset=offset)


@router.put("/sla-policies", response_model=SlaPolicyOut,
            summary="Set the first-response and resolution targets of a level and category (business minutes): a "
                    "new version; the live clocks it governs take it, deadlines and breach jobs move")
async def put_policy(body: SlaPolicyIn, session: DbSession, identity: Writer, now: Now) -> SlaPolicyOut:
    """Set (or replace) the first-response and resolution targets, in business minutes, for tickets of
    a category (or `*`, any) at a level (block, district, state; upazila, division). New tickets and
    escalations use it; it is a new version, and the live clocks it governs take it (deadlines move).

    **Who:** `tickets:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `tickets:admin`; 422 a resolution target shorter than the first-response
    one, targets outside 1 minute to a year.
    """
    return SlaPolicyOut.model_validate(dict(await desks.put_policy(session, identity, body, now)))


@router.get("/sla-policies/{policy_id}/versions", response_model=list[SlaPolicyVersionOut],
            summary="Every version of a policy, oldest first (who changed it, when)")
async def policy_versions(policy_id: PolicyId, session: DbSession, identity: Reader) -> list[SlaPolicyVersionOut]:
    """Every version of an SLA policy, oldest first, with its targets and who changed it when; each
    ticket's SLA clock names the version it runs on.

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 404 no such policy.
    """
    return [SlaPolicyVersionOut.model_validate(dict(r)) for r in await desks.policy_versions(session, policy_id)]


@router.get("/sla-policies", response_model=Page[SlaPolicyOut], summary="SLA policies, by level and category")
async def list_policies(session: DbSession, identity: Reader, limit: Limit = 100,
                        offset: Offset = 0) -> Page[SlaPolicyOut]:
    """Every SLA policy, by level and category.

    **Who:** `tickets:read` (help desks, field workers, officers, vendors, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await desks.list_policies(session, limit=limit, offset=offset)
    return Page(items=[SlaPolicyOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)
