"""Coverage for a person, a household, an area and scheme; the door-to-door list (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from kernel.db import DbSession
from services.benefits.repository.coverage import CoverageRepository
from services.benefits.routes.common import (
    CSV_ROUTE,
    AreaQuery,
    HouseholdId,
    Limit,
    Now,
    Offset,
    PersonId,
    Reader,
    SchemeQuery,
    next_link,
)
from services.benefits.schemas.common import Page
from services.benefits.schemas.coverage import AreaCoverage, GapPerson, HouseholdCoverage, PersonCoverage
from services.benefits.service import coverage
from services.benefits.settings import get_benefits_settings

router = APIRouter(tags=["coverage"])
Period = Annotated[str | None, Query(max_length=10, description="Default: the scheme's current period")]
On = Annotated[date | None, Query(description="Judge eligibility on this date (default today)")]


@router.get("/persons/{person_id}/coverage", response_model=PersonCoverage,
            summary="Schemes this person is eligible for in their area, and whether they receive them")
async def person_coverage(person_id: PersonId, session: DbSession, identity: Reader, now: Now,
                          on: On = None) -> PersonCoverage:
    """For each scheme that runs in the person's area: eligible under its current rules (or which facts
    the registry copy lacks to tell, `unknown_facts`), and covered (a live grant this period to any
    record of the same human). `registry_as_of` says how current the copy is.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such person in your area (in benefits' copy of the registry).
    """
    return await coverage.person_coverage(session, identity, person_id, on or now.date())


@router.get("/households/{household_id}/coverage", response_model=HouseholdCoverage,
            summary="The household's schemes and each member's")
async def household_coverage(household_id: HouseholdId, session: DbSession, identity: Reader, now: Now,
                             on: On = None) -> HouseholdCoverage:
    """The household's own schemes (per-household benefits) and each current member's coverage, as
    for one person.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such household in your area (in benefits' copy of the registry).
    """
    return await coverage.household_coverage(session, identity, household_id, on or now.date())


@router.get("/coverage", response_model=AreaCoverage,
            summary="Eligible, covered and eligible-but-not-covered counts for an area and scheme")
async def area_coverage(area: AreaQuery, scheme: SchemeQuery, session: DbSession, identity: Reader,
                        now: Now, period: Period = None, on: On = None) -> AreaCoverage:
    """Counts for an area (and below) and a scheme in a period: persons, eligible, eligible and
    covered, eligible but not covered, covered but not eligible. The rule tree runs as SQL.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors), for an area in your scope.

    **Errors:** 404 the area is outside your scope, or no such scheme; 422 a period the scheme does
    not use.
    """
    return await coverage.area_coverage(session, identity, area, scheme, period, on or now.date())


@router.get("/coverage/gaps", response_model=Page[GapPerson],
            summary="Eligible but not covered: the list for field staff, by area then id")
async def gaps(area: AreaQuery, scheme: SchemeQuery, session: DbSession, identity: Reader, now: Now,
               period: Period = None, on: On = None, limit: Limit = 100, offset: Offset = 0) -> Page[GapPerson]:
    """Eligible but not covered: who field staff should visit, by area then id (stable paging), with
    name, household, sex and birth year.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors), for an area in your scope.

    **Errors:** 404 the area is outside your scope, or no such scheme; 422 a period the scheme does
    not use.
    """
    query = await coverage.area_query(session, identity, area, scheme, period, on or now.date())
    rows, total = await CoverageRepository(session).gaps(limit=limit, offset=offset, **query.kwargs)
    await coverage.audit_list(session, identity, query, listed=len(rows), offset=offset, form="json")
    return Page(items=[GapPerson(person_id=r["id"], **{k: r[k] for k in GapPerson.model_fields if k != "person_id"})
                       for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/coverage/gaps", limit=limit, offset=offset, total=total, area=area, scheme=scheme,
                               period=query.period))


@router.get("/coverage/gaps.csv", **CSV_ROUTE, summary="The same list as CSV (UTF-8), for printing")
async def gaps_csv(area: AreaQuery, scheme: SchemeQuery, session: DbSession, identity: Reader, now: Now,
                   period: Period = None, on: On = None) -> StreamingResponse:
    """The same list as a UTF-8 CSV with a byte-order mark (opens in a spreadsheet with Bengali and
    Devanagari intact), up to `GRAMSETU_BENEFITS_EXPORT_MAX_ROWS` rows.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors), for an area in your scope.

    **Errors:** 404 the area is outside your scope, or no such scheme; 422 a period the scheme does
    not use.
    """
    query = await coverage.area_query(session, identity, area, scheme, period, on or now.date())
    rows, _ = await CoverageRepository(session).gaps(limit=get_benefits_settings().export_max_rows, offset=0,
                                                     **query.kwargs)
    await coverage.audit_list(session, identity, query, listed=len(rows), offset=0, form="csv")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["person_id", "full_name", "area_code", "household_id", "sex", "birth_year", "scheme", "period"])
    for r in rows:
        writer.writerow([r["id"], r["full_name"], r["area_code"], r["household_id"] or "", r["sex"],
                         r["birth_year"] or "", scheme, query.period])
    return StreamingResponse(iter(["\ufeff" + out.getvalue()]), media_type="text/csv; charset=utf-8")
