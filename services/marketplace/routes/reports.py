"""Adoption reports, department statements, worker earnings and idle workers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from kernel.db import DbSession
from services.marketplace.repository.reports import ReportRepository
from services.marketplace.routes.common import Limit, Now, Offset, Reader
from services.marketplace.rules import access
from services.marketplace.schemas.common import Code, Page
from services.marketplace.schemas.reports import (
    Adoption,
    AdoptionRow,
    Earning,
    IdleDepartment,
    IdleDepartments,
    IdleWorker,
    Statement,
)
from services.marketplace.service import reports

router = APIRouter(prefix="/reports", tags=["reports"])
Group = Literal["day", "department", "area", "category", "channel"]


@router.get("/adoption", response_model=Adoption,
            summary="Bookings (and call-centre bookings) per day, department, district, category or channel")
async def adoption(session: DbSession, identity: Reader, now: Now, group: Group = "day",
                   since: date | None = None, until: date | None = None) -> Adoption:
    start, end = reports.period(since, until, now)
    rows = await reports.adoption(session, identity, group, start, end)
    return Adoption(group=group, since=start, until=end, rows=[AdoptionRow.model_validate(dict(r)) for r in rows])


@router.get("/idle-departments", response_model=IdleDepartments,
            summary="Departments with no booking in the period (the '20 calls a day' problem)")
async def idle_departments(session: DbSession, identity: Reader, now: Now, since: date | None = None,
                           until: date | None = None) -> IdleDepartments:
    access.require(identity, access.REPORTS)
    start, end = reports.period(since, until, now)
    rows = await ReportRepository(session).departments_without_bookings(identity.area_scope, reports.day_start(start),
                                                                        reports.day_start(end))
    return IdleDepartments(since=start, until=end, items=[IdleDepartment.model_validate(dict(r)) for r in rows])


@router.get("/earnings", response_model=Page[Earning], summary="What each worker earned (completed jobs), top first")
async def earnings(session: DbSession, identity: Reader, now: Now, since: date | None = None,
                   until: date | None = None, limit: Limit = 100, offset: Offset = 0) -> Page[Earning]:
    reach = await reports.worker_reach(session, identity)
    start, end = reports.period(since, until, now)
    rows, total = await ReportRepository(session).earnings(identity.area_scope, reach, reports.day_start(start),
                                                           reports.day_start(end), limit=limit, offset=offset)
    return Page(items=[Earning.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/idle-workers", response_model=Page[IdleWorker],
            summary="Active workers with no completed job in the last N days, longest idle first")
async def idle_workers(session: DbSession, identity: Reader, now: Now,
                       days: Annotated[int, Query(ge=1, le=365)] = 30, limit: Limit = 100,
                       offset: Offset = 0) -> Page[IdleWorker]:
    reach = await reports.worker_reach(session, identity)
    rows, total = await ReportRepository(session).idle_workers(identity.area_scope, reach, now - timedelta(days=days),
                                                               limit=limit, offset=offset)
    return Page(items=[IdleWorker.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/departments/{code}/statements/{month}", response_model=Statement, tags=["departments"],
            summary="A department's monthly statement: jobs by office with purchase references, totals")
async def statement(code: Code, month: Annotated[str, Path(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$")],
                    session: DbSession, identity: Reader) -> Statement:
    return await reports.statement(session, identity, code, month)
