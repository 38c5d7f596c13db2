"""Rate card routes: categories, items, rates, cancellation terms, quotes; departments and offices."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from kernel.db import DbSession
from services.marketplace.repository.catalog import CatalogRepository
from services.marketplace.routes.common import Limit, Now, Offset, Reader, Writer
from services.marketplace.schemas.catalog import (
    CategoryIn,
    CategoryOut,
    DepartmentIn,
    DepartmentOut,
    OfficeIn,
    OfficeOut,
    Quote,
    RateIn,
    RateItemIn,
    RateItemOut,
    RateOut,
    TermsIn,
    TermsOut,
)
from services.marketplace.schemas.common import AreaCode, Code, Page
from services.marketplace.service import catalog
from services.marketplace.service.matching import local_time

router = APIRouter(tags=["rate card"])


@router.post("/categories", status_code=status.HTTP_201_CREATED, response_model=CategoryOut,
             summary="Add a service category (a trade: plumbing, electrical, ...)")
async def create_category(body: CategoryIn, session: DbSession, identity: Writer) -> CategoryOut:
    return CategoryOut.model_validate(dict(await catalog.create_category(session, identity, body)))


@router.get("/categories", response_model=Page[CategoryOut], summary="Service categories, by code")
async def list_categories(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0
                          ) -> Page[CategoryOut]:
    rows, total = await CatalogRepository(session).categories(limit=limit, offset=offset)
    return Page(items=[CategoryOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/rate-items", status_code=status.HTTP_201_CREATED, response_model=RateItemOut,
             summary="Add a job type, an extra-work item or a category's visit charge")
async def create_item(body: RateItemIn, session: DbSession, identity: Writer) -> RateItemOut:
    return RateItemOut.model_validate(dict(await catalog.create_item(session, identity, body)))


@router.get("/rate-items", response_model=Page[RateItemOut], summary="Rate card items, by category and code")
async def list_items(session: DbSession, identity: Reader, category: Annotated[Code | None, Query()] = None,
                     limit: Limit = 100, offset: Offset = 0) -> Page[RateItemOut]:
    rows, total = await CatalogRepository(session).items(category_code=category, limit=limit, offset=offset)
    return Page(items=[RateItemOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/rates", status_code=status.HTTP_201_CREATED, response_model=RateOut,
             summary="Fix the government rate of an item in an area from a date (confirmed bookings keep theirs)")
async def create_rate(body: RateIn, session: DbSession, identity: Writer) -> RateOut:
    return catalog.rate_out(await catalog.add_rate(session, identity, body))


@router.get("/rates", response_model=Page[RateOut], summary="Rates with their validity periods")
async def list_rates(session: DbSession, identity: Reader, item: Annotated[Code | None, Query()] = None,
                     limit: Limit = 100, offset: Offset = 0) -> Page[RateOut]:
    rows, total = await CatalogRepository(session).rates_page(item, limit=limit, offset=offset)
    return Page(items=[catalog.rate_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.put("/categories/{code}/cancellation-terms", response_model=TermsOut,
            summary="Cancellation terms and the offer time limit of a category")
async def put_terms(code: Code, body: TermsIn, session: DbSession, identity: Writer) -> TermsOut:
    return TermsOut.model_validate(dict(await catalog.set_terms(session, identity, code, body)))


@router.get("/categories/{code}/cancellation-terms", response_model=TermsOut, summary="A category's terms")
async def get_terms(code: Code, session: DbSession, identity: Reader) -> TermsOut:
    return TermsOut(category_code=code, **await catalog.terms(session, code))


@router.get("/quote", response_model=Quote, summary="The price of a job in an area today, from the rate card")
async def get_quote(session: DbSession, identity: Reader, now: Now, job: Annotated[Code, Query()],
                    area: Annotated[AreaCode, Query()], on: Annotated[date | None, Query()] = None) -> Quote:
    return await catalog.quote(session, job, area, on or local_time(area, now).date())


@router.post("/departments", status_code=status.HTTP_201_CREATED, response_model=DepartmentOut,
             tags=["departments"], summary="Add a government department that books through the marketplace")
async def create_department(body: DepartmentIn, session: DbSession, identity: Writer) -> DepartmentOut:
    return DepartmentOut.model_validate(dict(await catalog.create_department(session, identity, body)))


@router.get("/departments", response_model=Page[DepartmentOut], tags=["departments"],
            summary="Departments in your area, by code")
async def list_departments(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0
                           ) -> Page[DepartmentOut]:
    rows, total = await CatalogRepository(session).departments(identity.area_scope, limit=limit, offset=offset)
    return Page(items=[DepartmentOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/departments/{code}/offices", status_code=status.HTTP_201_CREATED, response_model=OfficeOut,
             tags=["departments"], summary="Add an office that books against the department")
async def create_office(code: Code, body: OfficeIn, session: DbSession, identity: Writer) -> OfficeOut:
    return OfficeOut.model_validate(dict(await catalog.create_office(session, identity, code, body)))
