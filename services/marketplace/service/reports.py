"""Adoption reporting (who uses the marketplace, and who does not), department statements,
worker earnings and idle workers; the gauges Prometheus reads."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import NotFound
from kernel.scheduler import Job
from services.marketplace.metrics import GAUGES, REGISTRY_COPY_LAG
from services.marketplace.repository.catalog import CatalogRepository
from services.marketplace.repository.registry import RegistryCopyRepository
from services.marketplace.repository.reports import GROUPS, ReportRepository
from services.marketplace.rules import access
from services.marketplace.schemas.reports import OfficeTotal, Statement, StatementLine
from services.marketplace.service import vendors
from services.marketplace.service.common import invalid

IST = ZoneInfo("Asia/Kolkata")
GAUGE_JOB = "marketplace.adoption_gauges"
IDLE_DAYS = 30


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=IST)


def period(since: date | None, until: date | None, now: datetime) -> tuple[date, date]:
    """[since, until) in days; the last 30 days by default."""
    until = until or now.astimezone(IST).date() + timedelta(days=1)
    since = since or until - timedelta(days=30)
    if since >= until:
        raise invalid("since", "must be before until")
    if (until - since).days > 366:
        raise invalid("until", "a report covers at most a year")
    return since, until


async def adoption(session: AsyncSession, identity: Identity, group: str, since: date, until: date
                   ) -> list[RowMapping]:
    access.require(identity, access.REPORTS)
    if group not in GROUPS:
        raise invalid("group", f"one of {', '.join(GROUPS)}")
    return await ReportRepository(session).adoption(group, identity.area_scope, day_start(since), day_start(until))


async def statement(session: AsyncSession, identity: Identity, department_code: str, month: str) -> Statement:
    """A department's monthly statement: each completed job (and each cancellation fee) of its offices
    with the purchase reference, totals per office and overall."""
    access.require(identity, access.REPORTS)
    if not re.match(r"^20\d{2}-(0[1-9]|1[0-2])$", month):
        raise invalid("month", "YYYY-MM")
    department = await CatalogRepository(session).department(department_code)
    if department is None or not identity.can_access_area(department["area_code"]):
        raise NotFound("No such department in your area.")
    first = date(int(month[:4]), int(month[5:]), 1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    rows = await ReportRepository(session).statement(department_code, day_start(first), day_start(after))
    lines = [StatementLine.model_validate(dict(r)) for r in rows]
    offices: dict[str, OfficeTotal] = {}
    for line in lines:
        total = offices.setdefault(line.office_code, OfficeTotal(office_code=line.office_code, lines=0,
                                                                 amount_minor=0))
        total.lines += 1
        total.amount_minor += line.amount_minor
    return Statement(department_code=department_code, department_name=department["name"], month=month, lines=lines,
                     offices=list(offices.values()), total_minor=sum(line.amount_minor for line in lines))


async def worker_reach(session: AsyncSession, identity: Identity) -> list[uuid.UUID] | None:
    """Earnings and idle lists: reporting roles see the area; a vendor only its own workers."""
    if access.can(identity, access.REPORTS):
        return None
    access.require(identity, access.WORKERS_MANAGE)
    return await vendors.vendor_reach(session, identity)


async def refresh_gauges(session: AsyncSession, job: Job) -> datetime:
    """Adoption gauges every five minutes: departments with no booking in 30 days, idle workers; and the
    registry copy's lag."""
    since = job.due_at - timedelta(days=IDLE_DAYS)
    values = await ReportRepository(session).gauges(since, since)
    for name, value in values.items():
        GAUGES.labels(name).set(value)
    last = await RegistryCopyRepository(session).last_event_at()
    if last is not None:
        REGISTRY_COPY_LAG.set(max(0.0, (job.due_at - last).total_seconds()))
    return job.due_at + timedelta(minutes=5)
