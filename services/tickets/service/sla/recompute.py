"""Recompute live clocks after an SLA policy or a business calendar changes (osTicket #5160: stale overdue flags).

A change reaches every live clock it governs, in batches: the first batch in the administrator's request
(a small deployment sees its tickets move at once), the rest by the ``tickets.recompute_deadlines`` job,
one transaction per batch, walking the clocks in id order.  Each batch locks the tickets of its clocks
(in id order, so two recomputes never deadlock) and re-reads the clocks under those locks, so a ticket
paused, resolved or escalated meanwhile is recomputed from what it is now, or not at all.

* **Policy** (a level and category's targets): a live clock of that level whose ticket's category the
  policy governs gets the new targets and the policy version; running, its deadline and its breach job
  move.  Clocks of levels already left (stopped), met or breached keep the target and version they were
  measured against: the history of an escalated ticket does not change.
* **Calendar** (hours, zone, off-Saturdays, parent, a holiday added or removed): each running clock of a
  desk on that calendar (or one under it) gets its deadline counted again under the new calendar.

A deadline never moves before the moment of the recompute: a shortened target breaches now, not in the past.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, cancel, schedule
from services.tickets import SERVICE
from services.tickets.repository.desks import CalendarRepository, SlaPolicyRepository
from services.tickets.repository.tickets import SlaRepository
from services.tickets.rules.calendar import BusinessCalendar
from services.tickets.service.sla.calendar import load_calendar
from services.tickets.service.sla.clocks import moved_deadline, reschedule
from services.tickets.settings import get_tickets_settings

RECOMPUTE_JOB = "tickets.recompute_deadlines"
POLICY, CALENDAR = "policy", "calendar"


async def start(session: AsyncSession, scope: str, ref: uuid.UUID, now: datetime) -> int:
    """Recompute the first batch in the caller's transaction, leave the rest to the job; returns clocks changed.

    A newer change of the same policy or calendar starts the walk again from the first clock (the job's
    cursor is replaced), so no clock keeps what an older change computed."""
    key = f"{scope}:{ref}"
    changed, last = await _batch(session, scope, ref, after=None, now=now)
    if last is None:
        await cancel(session, SERVICE, kind=RECOMPUTE_JOB, key=key)
    else:
        await schedule(session, SERVICE, kind=RECOMPUTE_JOB, key=key, due_at=now,
                       payload={"scope": scope, "ref": str(ref), "after": str(last)})
    return changed


async def on_recompute(session: AsyncSession, job: Job) -> datetime | None:
    """One batch after ``after``; due again at once while clocks remain."""
    now = job.now or job.due_at
    after = uuid.UUID(job.payload["after"])
    _, last = await _batch(session, job.payload["scope"], uuid.UUID(job.payload["ref"]), after=after, now=now)
    if last is None:
        return None
    await schedule(session, SERVICE, kind=RECOMPUTE_JOB, key=job.key, due_at=now,
                   payload=job.payload | {"after": str(last)})
    return now


async def _batch(session: AsyncSession, scope: str, ref: uuid.UUID, *, after: uuid.UUID | None,
                 now: datetime) -> tuple[int, uuid.UUID | None]:
    """(clocks changed, the last clock id of the batch if more may follow, else None)."""
    limit = get_tickets_settings().recompute_batch
    repo = SlaRepository(session)
    policy = None
    if scope == POLICY:
        policy = await SlaPolicyRepository(session).get(ref)
        if policy is None:
            return 0, None
        level = policy["level"]
        own = await SlaPolicyRepository(session).own_categories(level) if policy["category"] == "*" else []
        ids = await repo.recompute_candidates(after=after, limit=limit, level=level, not_categories=own,
                                              category=None if policy["category"] == "*" else policy["category"])
    else:
        calendar_ids = await CalendarRepository(session).with_children(ref)
        ids = await repo.recompute_candidates(after=after, limit=limit, calendar_ids=calendar_ids)
    if not ids:
        return 0, None
    changed = 0
    calendars: dict[uuid.UUID, BusinessCalendar] = {}
    for clock in await repo.lock_for_recompute(ids):
        if clock["calendar_id"] not in calendars:
            calendars[clock["calendar_id"]] = await load_calendar(session, clock["calendar_id"])
        calendar = calendars[clock["calendar_id"]]
        values: dict[str, Any] = {}
        target = clock["target_seconds"]
        if policy is not None:
            target = policy[f"{clock['kind']}_minutes"] * 60
            values = {"target_seconds": target, "policy_id": policy["id"], "policy_version": policy["version"]}
        if clock["running_since"] is not None:
            deadline = moved_deadline(clock, calendar, target, now)
            if deadline != clock["deadline_at"]:
                values["deadline_at"] = deadline
                await reschedule(session, clock, deadline)
        if values and any(clock[k] != v for k, v in values.items()):
            await repo.set(clock["id"], values)
            changed += 1
    return changed, (ids[-1] if len(ids) == limit else None)
