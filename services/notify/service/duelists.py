"""Immunisation due lists, doses and reminders.

The schedule is data (``schedule_item`` rows under a version; the shipped India UIP schedule is in
``demo/``); a new version is published and activated, never edited in place.  A daily job queues one
reminder per due dose to the beneficiary (idempotency key ``person:code:due``, valid until the end of
the due window, so a backlog released after an outage is dropped, not sent late) and one summary per
anganwadi worker.  Recording a dose cancels every pending reminder for it.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.notify import DoseRecorded
from kernel import roles
from kernel.auth import Identity
from kernel.errors import Conflict, NotFound, ValidationProblem
from kernel.outbox import add_event
from kernel.scheduler import Job
from services.notify import SERVICE
from services.notify.metrics import REMINDERS
from services.notify.repository import contacts as contacts_repo
from services.notify.repository import duelists as repo
from services.notify.repository import messages as messages_repo
from services.notify.rules.timing import zone_for
from services.notify.rules.uip import parse_items
from services.notify.service.sending import Outgoing, enqueue

REMINDER_JOB = "notify.due_reminders"
BENEFICIARY_TEMPLATE = "vaccination_due"
WORKER_TEMPLATE = "worker_due_list"
CSV_COLUMNS = ("area_code", "person_id", "name", "target", "code", "vaccine", "dose", "due_on", "status",
               "days_overdue")


def dose_cancel_key(person_id: uuid.UUID, code: str) -> str:
    return f"dose:{person_id}:{code}"


async def publish_schedule(session: AsyncSession, document: dict[str, Any], *, activate: bool = True) -> bool:
    """Store a schedule version (refused if its items do not parse); True if it was new."""
    try:
        items = parse_items(document.get("items", []))
    except (TypeError, ValueError) as exc:
        raise ValidationProblem(str(exc), errors=[{"field": "items", "reason": str(exc)[:200]}]) from exc
    rows = [{**i.__dict__, "area_prefixes": list(i.area_prefixes) if i.area_prefixes else None} for i in items]
    created = await repo.add_schedule(session, version=document["version"], name=document["name"],
                                      source=document.get("source"), items=rows)
    if activate:
        before = await repo.active_version(session)
        await repo.activate(session, document["version"])
        if before is None or before["version"] != document["version"]:
            await repo.rebuild_actionable(session, document["version"])  # every person, under the new version
    return created


async def active_version(session: AsyncSession) -> str:
    row = await repo.active_version(session)
    if row is None:
        raise Conflict("No immunisation schedule is active: publish one first (POST /schedules).")
    return str(row["version"])


async def due_list(session: AsyncSession, identity: Identity, area_code: str, on: date, *, limit: int,
                   offset: int) -> tuple[list[RowMapping], int, str, str | None]:
    if not identity.can_access_area(area_code):
        raise NotFound("No such area in your scope.")
    version = await active_version(session)
    rows, total = await repo.due_page(session, version=version, area_prefix=area_code, on=on, limit=limit,
                                      offset=offset)
    return rows, total, version, await repo.contacts_freshness(session)


def as_csv(rows: Sequence[RowMapping]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([r["area_code"], r["person_id"], r["full_name"], r["target"], r["code"], r["vaccine"],
                         r["dose"], r["due_on"].isoformat(), r["status"], r["days_overdue"]])
    return out.getvalue()


async def worker_due_list(session: AsyncSession, identity: Identity, worker_id: str,
                          on: date) -> tuple[RowMapping, list[RowMapping], str]:
    worker = await contacts_repo.get_worker(session, worker_id)
    if worker is None or not identity.can_access_area(worker["area_code"]):
        raise NotFound("No such worker in your area.")
    version = await active_version(session)
    rows = await repo.due_all(session, version=version, area_prefix=worker["area_code"], on=on)
    return worker, list(rows), version


async def record_dose(session: AsyncSession, identity: Identity, *, person_id: uuid.UUID, code: str,
                      given_on: date, source: str, now: datetime) -> tuple[bool, int]:
    """Record a dose (a repeat is a no-op) and cancel its pending reminders; (recorded, cancelled)."""
    person = await contacts_repo.get_contact(session, person_id)
    if person is None or not identity.can_access_area(person["area_code"]):
        raise NotFound("No such person in your area.")
    roles.require(identity, "notify:dose_record", person["area_code"])
    version = await active_version(session)
    if code not in {i["code"] for i in await repo.items_of(session, version)}:
        raise ValidationProblem(f"{code!r} is not in schedule {version}",
                                errors=[{"field": "code", "reason": "unknown schedule item"}])
    recorded = await repo.record_dose(session, {"person_id": person_id, "code": code, "given_on": given_on,
                                                "source": source, "recorded_by": identity.subject})
    if recorded:
        await repo.refresh_actionable(session, [person_id])
    cancelled = await messages_repo.cancel_pending(session, cancel_key=dose_cancel_key(person_id, code),
                                                   status="cancelled", now=now)
    await messages_repo.log_events(session, [{"message_id": r["id"], "kind": "cancelled", "status": "cancelled",
                                              "detail": {"reason": f"dose {code} recorded"}} for r in cancelled])
    REMINDERS.labels("cancelled").inc(len(cancelled))
    if recorded:
        await add_event(session, SERVICE, DoseRecorded(person_id=person_id, code=code, given_on=given_on,
                                                       reminders_cancelled=len(cancelled)), source=SERVICE)
    return recorded, len(cancelled)


async def cancel_person_reminders(session: AsyncSession, person_id: uuid.UUID, now: datetime) -> int:
    rows = await messages_repo.cancel_pending_prefix(session, f"dose:{person_id}:", now=now)
    REMINDERS.labels("cancelled").inc(len(rows))
    return len(rows)


async def queue_reminders(session: AsyncSession, on: date, now: datetime) -> dict[str, int]:
    """Reminders for every due dose (each once per due date) and a daily list for each worker."""
    version = await active_version(session)
    counts = {"beneficiary": 0, "worker": 0, "skipped": 0}
    items = {i["code"]: i for i in await _items_cached(session, version)}
    for row in await repo.due_all(session, version=version, area_prefix="", on=on):
        if row["status"] != "due" or not row["phones"]:
            counts["skipped"] += 1
            continue
        due: date = row["due_on"]
        window_end = due + timedelta(days=int(items[row["code"]]["grace_days"]))
        try:
            _, created = await enqueue(session, Outgoing(
                idempotency_key=f"reminder:{row['person_id']}:{row['code']}:{due.isoformat()}",
                template_key=BENEFICIARY_TEMPLATE, source="reminder", person_id=row["person_id"],
                variables={"child": row["full_name"][:30], "vaccine": row["vaccine"][:30],
                           "date": due.strftime("%d-%m-%Y")},
                valid_until=_end_of_day(window_end, row["area_code"]),
                cancel_key=dose_cancel_key(row["person_id"], row["code"])), now)
        except (ValidationProblem, NotFound):
            counts["skipped"] += 1  # no template in the person's language: ICDS sends only translated alerts
            continue
        counts["beneficiary"] += int(created)
        REMINDERS.labels("queued").inc(int(created))
    for worker in await contacts_repo.workers_in(session):
        listed = await repo.due_all(session, version=version, area_prefix=worker["area_code"], on=on)
        if not listed:
            continue
        try:
            _, created = await enqueue(session, Outgoing(
                idempotency_key=f"worklist:{worker['id']}:{on.isoformat()}", template_key=WORKER_TEMPLATE,
                source="reminder", to=worker["phone"], area_code=worker["area_code"], language=worker["language"],
                variables={"count": str(len(listed)), "date": on.strftime("%d-%m-%Y")},
                valid_until=_end_of_day(on, worker["area_code"])), now)
        except ValidationProblem:
            counts["skipped"] += 1
            continue
        counts["worker"] += int(created)
    return counts


_ITEMS: dict[str, Sequence[RowMapping]] = {}


async def _items_cached(session: AsyncSession, version: str) -> Sequence[RowMapping]:
    # A published version never changes, so its items can be kept for the process's life.
    if version not in _ITEMS:
        _ITEMS[version] = await repo.items_of(session, version)
    return _ITEMS[version]


def _end_of_day(day: date, area_code: str) -> datetime:
    zone = zone_for(area_code)
    return datetime.combine(day, time(23, 59), tzinfo=zone).astimezone(timezone.utc)


async def reminder_job(session: AsyncSession, job: Job) -> datetime:
    """Daily at 07:00 India time (quiet hours hold anything queued earlier in a recipient's night)."""
    local = job.due_at.astimezone(zone_for("IN"))
    await queue_reminders(session, local.date(), job.due_at)
    tomorrow = datetime.combine(local.date() + timedelta(days=1), time(7, 0), tzinfo=zone_for("IN"))
    return tomorrow.astimezone(timezone.utc)


JOBS = {REMINDER_JOB: reminder_job}
