"""Adoption reports, department statements, worker earnings and idle workers."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from kernel.db import DbSession
from services.marketplace.repository.reports import ReportRepository
from services.marketplace.routes.common import Limit, Now, Offset, Reader, Since, Until
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
            summary="Bookings and call-centre calls per day, department, district, category or channel")
async def adoption(session: DbSession, identity: Reader, now: Now,
                   group: Annotated[Group, Query(description="Rows per day, department, area, category or channel")]
                   = "day",
                   since: Since = None, until: Until = None) -> Adoption:
    """How the marketplace is used: bookings, and call-centre calls with how many of them booked
    (`assisted`), per day, department, district, category or channel over a period, for your area.
    A call that ended without a booking (`POST /calls`) counts in `calls` only, under department `-`,
    channel `call_centre` and its category (`-` if none).

    **Who:** `marketplace:read` and `marketplace:reports` (department officers, auditors).

    **Errors:** 403 without `marketplace:reports`; 422 an unknown grouping, `until` before `since`.
    """
    start, end = reports.period(since, until, now)
    rows = await reports.adoption(session, identity, group, start, end)
    return Adoption(group=group, since=start, until=end, rows=[AdoptionRow.model_validate(dict(r)) for r in rows])


@router.get("/idle-departments", response_model=IdleDepartments,
            summary="Departments with no booking in the period (the '20 calls a day' problem)")
async def idle_departments(session: DbSession, identity: Reader, now: Now, since: Since = None,
                           until: Until = None) -> IdleDepartments:
    """Departments in your area that booked nothing in the period: where adoption has stalled.

    **Who:** `marketplace:read` and `marketplace:reports` (department officers, auditors).

    **Errors:** 403 without `marketplace:reports`; 422 `until` before `since`.
    """
    access.require(identity, access.REPORTS)
    start, end = reports.period(since, until, now)
    rows = await ReportRepository(session).departments_without_bookings(identity.area_scope, reports.day_start(start),
                                                                        reports.day_start(end))
    return IdleDepartments(since=start, until=end, items=[IdleDepartment.model_validate(dict(r)) for r in rows])


@router.get("/earnings", response_model=Page[Earning], summary="What each worker earned (completed jobs), top first")
async def earnings(session: DbSession, identity: Reader, now: Now, since: Since = None,
                   until: Until = None, limit: Limit = 100, offset: Offset = 0) -> Page[Earning]:
    """What each worker earned from completed jobs in the period (jobs, total in minor units), top
    first. A vendor sees its own workers.

    **Who:** `marketplace:read` and `marketplace:reports` (officers, auditors), or a vendor with
    `marketplace:workers_manage` for its workers.

    **Errors:** 403 neither; 422 `until` before `since`.
    """
    reach = await reports.worker_reach(session, identity)
    start, end = reports.period(since, until, now)
    rows, total = await ReportRepository(session).earnings(identity.area_scope, reach, reports.day_start(start),
                                                           reports.day_start(end), limit=limit, offset=offset)
    return Page(items=[Earning.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/idle-workers", response_model=Page[IdleWorker],
            summary="Active workers with no completed job in the last N days, longest idle first")
async def idle_workers(session: DbSession, identity: Reader, now: Now,
                       days: Annotated[int, Query(ge=1, le=365, description="Idle for at least this many days")]
                       = 30, limit: Limit = 100,
                       offset: Offset = 0) -> Page[IdleWorker]:
    """Active workers with no completed job in the last `days` days, longest idle first: who needs work
    or training. A vendor sees its own workers.

    **Who:** `marketplace:read` and `marketplace:reports`, or a vendor with `marketplace:workers_manage`.

    **Errors:** 403 neither; 422 `days` outside 1-365.
    """
    reach = await reports.worker_reach(session, identity)
    rows, total = await ReportRepository(session).idle_workers(identity.area_scope, reach, now - timedelta(days=days),
                                                               limit=limit, offset=offset)
    return Page(items=[IdleWorker.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/departments/{code}/statements/{month}", response_model=Statement, tags=["departments"],
            summary="A department's monthly statement: jobs by office with purchase references, totals")
async def statement(code: Annotated[Code, Path(description="The department's code", examples=["up-pwd"])],
                    month: Annotated[str, Path(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM",
                                               examples=["2026-11"])],
                    session: DbSession, identity: Reader) -> Statement:
    """A department's statement for a month: the completed jobs of each office with their purchase
    references, amounts and totals, for payment.

    **Who:** `marketplace:read` and `marketplace:reports` (department officers, auditors), for a department in
    your area.

    **Errors:** 403 without `marketplace:reports`; 404 no such department in your area; 422 a malformed
    month.
    """
    return await reports.statement(session, identity, code, month)
