"""Per-level SLA clocks: start, pause, resume, meet, stop; each live deadline is one scheduler job.

A clock's deadline is a job ``tickets.sla_breach`` keyed ``<ticket>:<level_seq>:<kind>`` (the
idempotency key of escalation.md §3.5).  Pausing cancels the job, resuming schedules it again at
the new deadline, meeting the target cancels it: no sweep over open tickets ever looks for
breaches, so the scheduler's cost follows the deadlines that are due.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import cancel, schedule
from services.tickets import SERVICE
from services.tickets.metrics import FIRST_RESPONSE
from services.tickets.repository.tickets import SlaRepository
from services.tickets.rules.calendar import BusinessCalendar
from services.tickets.service.sla.calendar import current_calendar, load_calendar
from services.tickets.settings import get_tickets_settings

BREACH_JOB = "tickets.sla_breach"
GAUGES_JOB = "tickets.refresh_gauges"
KINDS = ("first_response", "resolution")


def job_key(ticket_id: uuid.UUID, level_seq: int, kind: str) -> str:
    return f"{ticket_id}:{level_seq}:{kind}"


async def _schedule(session: AsyncSession, ticket_id: uuid.UUID, level_seq: int, kind: str, due: datetime) -> None:
    await schedule(session, SERVICE, kind=BREACH_JOB, key=job_key(ticket_id, level_seq, kind), due_at=due,
                   payload={"ticket_id": str(ticket_id), "level_seq": level_seq, "kind": kind})


async def start_level(
    session: AsyncSession, ticket: Mapping[Any, Any], desk: Mapping[Any, Any], now: datetime,
    *, kinds: tuple[str, ...] = KINDS,
) -> dict[str, datetime]:
    """Start the clocks of the ticket's current level and schedule their deadlines (one statement); returns
    the deadlines.  ``desk`` is a row of ``DeskRepository.on_path_with_terms`` (calendar versions and the
    level's policy for the category come with it: no further query when the calendar is cached)."""
    calendar = await current_calendar(session, desk["calendar_id"], desk["calendar_version"], desk["parent_version"])
    seconds = terms_of(desk)
    deadlines = {kind: calendar.add(now, seconds[kind]) for kind in kinds}
    await SlaRepository(session).start([
        {"ticket_id": ticket["id"], "level_seq": ticket["level_seq"], "level": desk["level"], "desk_id": desk["id"],
         "kind": kind, "target_seconds": seconds[kind], "started_at": now, "deadline_at": deadlines[kind],
         "policy_id": seconds["policy_id"], "policy_version": seconds["policy_version"]}
        for kind in kinds
    ], BREACH_JOB)
    return deadlines


def terms_of(desk: Mapping[Any, Any]) -> dict[str, Any]:
    """Targets (business seconds) from a desk row with its level's policy (``on_path_with_terms``)."""
    settings = get_tickets_settings()
    return {"first_response": (desk["policy_first_response_minutes"] or settings.default_first_response_minutes) * 60,
            "resolution": (desk["policy_resolution_minutes"] or settings.default_resolution_minutes) * 60,
            "policy_id": desk["policy_id"], "policy_version": desk["policy_version"]}


async def _calendar_for(session: AsyncSession, desk: Mapping[Any, Any]) -> BusinessCalendar:
    return await load_calendar(session, desk["calendar_id"])


async def pause(session: AsyncSession, ticket: Mapping[Any, Any], desk: Mapping[Any, Any], now: datetime) -> None:
    """Waiting on the reporter: bank the business time used and drop the deadlines."""
    repo, calendar = SlaRepository(session), await _calendar_for(session, desk)
    for clock in await repo.live(ticket["id"], ticket["level_seq"]):
        if clock["running_since"] is None:
            continue
        used = clock["elapsed_seconds"] + calendar.between(clock["running_since"], now)
        await repo.set(clock["id"], {"elapsed_seconds": round(used), "running_since": None, "deadline_at": None})
        await cancel(session, SERVICE, kind=BREACH_JOB, key=job_key(ticket["id"], ticket["level_seq"], clock["kind"]))


async def resume(session: AsyncSession, ticket: Mapping[Any, Any], desk: Mapping[Any, Any], now: datetime,
                 *, kinds: tuple[str, ...] = KINDS) -> None:
    """Run the paused clocks again from ``now`` with the business time they have left."""
    repo, calendar = SlaRepository(session), await _calendar_for(session, desk)
    for clock in await repo.live(ticket["id"], ticket["level_seq"]):
        if clock["running_since"] is not None or clock["kind"] not in kinds:
            continue
        deadline = calendar.add(now, max(clock["target_seconds"] - clock["elapsed_seconds"], 0))
        await repo.set(clock["id"], {"running_since": now, "deadline_at": deadline})
        await _schedule(session, ticket["id"], ticket["level_seq"], clock["kind"], deadline)


async def meet(session: AsyncSession, ticket: Mapping[Any, Any], kind: str, now: datetime) -> bool:
    """The level's ``kind`` target was met (first response given, or resolved); False if it was not live."""
    repo = SlaRepository(session)
    clock = await repo.get(ticket["id"], ticket["level_seq"], kind)
    if clock is None or clock["met_at"] is not None or clock["stopped_at"] is not None:
        return False
    await repo.set(clock["id"], {"met_at": now, "stopped_at": now})
    await cancel(session, SERVICE, kind=BREACH_JOB, key=job_key(ticket["id"], ticket["level_seq"], kind))
    if kind == "first_response":
        FIRST_RESPONSE.labels(clock["level"]).observe(max((now - clock["started_at"]).total_seconds(), 0.0))
    return True


async def stop_level(session: AsyncSession, ticket: Mapping[Any, Any], now: datetime) -> None:
    """The ticket leaves this level (escalated): its live clocks stop and their jobs go."""
    await SlaRepository(session).stop(ticket["id"], ticket["level_seq"], now, BREACH_JOB)


async def restart_resolution(session: AsyncSession, ticket: Mapping[Any, Any], desk: Mapping[Any, Any],
                             now: datetime) -> None:
    """Reopened at the same level: the resolution clock runs on with the business time it had left."""
    repo = SlaRepository(session)
    clock = await repo.get(ticket["id"], ticket["level_seq"], "resolution")
    if clock is None:
        return
    used = clock["elapsed_seconds"]
    if clock["running_since"] is not None and clock["met_at"] is not None:
        calendar = await _calendar_for(session, desk)
        used += calendar.between(clock["running_since"], clock["met_at"])
    await repo.set(clock["id"], {"met_at": None, "stopped_at": None, "elapsed_seconds": round(used),
                                 "running_since": None, "deadline_at": None})
    await resume(session, ticket, desk, now, kinds=("resolution",))


def remaining(clock: Mapping[Any, Any], calendar: BusinessCalendar, now: datetime) -> tuple[float, float]:
    """(business seconds used, business seconds left) of a clock at ``now``."""
    used = float(clock["elapsed_seconds"])
    end = clock["met_at"] or clock["stopped_at"] or now
    if clock["running_since"] is not None:
        used += calendar.between(clock["running_since"], end)
    return used, clock["target_seconds"] - used


def moved_deadline(clock: Mapping[Any, Any], calendar: BusinessCalendar, target: int, now: datetime) -> datetime:
    """A running clock's deadline under a changed target or calendar: the business time left counted from when
    it started running, never before ``now`` (a shortened target breaches at the change, not in the past)."""
    left = max(target - clock["elapsed_seconds"], 0)
    return max(calendar.add(clock["running_since"], left), now)


async def reschedule(session: AsyncSession, clock: Mapping[Any, Any], deadline: datetime) -> None:
    await _schedule(session, clock["ticket_id"], clock["level_seq"], clock["kind"], deadline)
