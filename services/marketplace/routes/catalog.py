"""Rate card routes: categories, items, rates, cancellation terms, quotes; departments and offices."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

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
CategoryCode = Annotated[Code, Path(description="The category's code", examples=["plumbing"])]


@router.post("/categories", status_code=status.HTTP_201_CREATED, response_model=CategoryOut,
             summary="Add a service category (a trade: plumbing, electrical, ...)")
async def create_category(body: CategoryIn, session: DbSession, identity: Writer) -> CategoryOut:
    """A trade the marketplace offers (plumbing, electrical, carpentry, appliance repair), with its
    local-language name; workers list their skills by category.

    **Who:** `marketplace:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `marketplace:admin`; 409 the code exists; 422 a malformed code.
    """
    return CategoryOut.model_validate(dict(await catalog.create_category(session, identity, body)))


@router.get("/categories", response_model=Page[CategoryOut], summary="Service categories, by code")
async def list_categories(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0
                          ) -> Page[CategoryOut]:
    """Every service category, by code.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await CatalogRepository(session).categories(limit=limit, offset=offset)
    return Page(items=[CategoryOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/rate-items", status_code=status.HTTP_201_CREATED, response_model=RateItemOut,
             summary="Add a job type, an extra-work item or a category's visit charge")
async def create_item(body: RateItemIn, session: DbSession, identity: Writer) -> RateItemOut:
    """An item of the government rate card: a bookable `job` (replace a tap), an `extra` found on site
    (a washer, a metre of pipe), or the category's `visit` charge. Its price comes from rates.

    **Who:** `marketplace:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `marketplace:admin`; 409 the code exists; 422 an unknown category.
    """
    return RateItemOut.model_validate(dict(await catalog.create_item(session, identity, body)))


@router.get("/rate-items", response_model=Page[RateItemOut], summary="Rate card items, by category and code")
async def list_items(session: DbSession, identity: Reader, category: Annotated[Code | None, Query(
                         description="Only this category's items", examples=["plumbing"])] = None,
                     limit: Limit = 100, offset: Offset = 0) -> Page[RateItemOut]:
    """Rate card items, by category and code; filter by category.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 422 a malformed category code.
    """
    rows, total = await CatalogRepository(session).items(category_code=category, limit=limit, offset=offset)
    return Page(items=[RateItemOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/rates", status_code=status.HTTP_201_CREATED, response_model=RateOut,
             summary="Fix the government rate of an item in an area from a date (confirmed bookings keep theirs)")
async def create_rate(body: RateIn, session: DbSession, identity: Writer) -> RateOut:
    """The government rate of an item in an area (and every area beneath it, unless a narrower one has
    its own) from `valid_from`, in minor units of the country's currency, with the government order
    that fixed it. Bookings keep the rate they were confirmed at.

    **Who:** `marketplace:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `marketplace:admin`; 409 another rate for the item and area already covers
    part of the period; 422 an unknown item, `valid_to` before `valid_from`.
    """
    return catalog.rate_out(await catalog.add_rate(session, identity, body))


@router.get("/rates", response_model=Page[RateOut], summary="Rates with their validity periods")
async def list_rates(session: DbSession, identity: Reader, item: Annotated[Code | None, Query(
                         description="Only this item's rates", examples=["plumbing.tap_replace"])] = None,
                     limit: Limit = 100, offset: Offset = 0) -> Page[RateOut]:
    """Rates with their areas and validity periods; filter by item.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 422 a malformed item code.
    """
    rows, total = await CatalogRepository(session).rates_page(item, limit=limit, offset=offset)
    return Page(items=[catalog.rate_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.put("/categories/{code}/cancellation-terms", response_model=TermsOut,
            summary="Cancellation terms and the offer time limit of a category")
async def put_terms(code: CategoryCode, body: TermsIn, session: DbSession, identity: Writer) -> TermsOut:
    """The category's cancellation terms (free until how many minutes before the slot, the fee once a
    worker is assigned or on the way) and how long a worker has to accept an offer before it moves on.

    **Who:** `marketplace:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `marketplace:admin`; 404 no such category; 422 values out of range.
    """
    return TermsOut.model_validate(dict(await catalog.set_terms(session, identity, code, body)))


@router.get("/categories/{code}/cancellation-terms", response_model=TermsOut, summary="A category's terms")
async def get_terms(code: CategoryCode, session: DbSession, identity: Reader) -> TermsOut:
    """The category's cancellation terms and offer time limit (the defaults if none were set).

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 404 no such category.
    """
    return TermsOut(category_code=code, **await catalog.terms(session, code))


@router.get("/quote", response_model=Quote, summary="The price of a job in an area today, from the rate card")
async def get_quote(session: DbSession, identity: Reader, now: Now,
                    job: Annotated[Code, Query(description="A job item of the rate card",
                                               examples=["plumbing.tap_replace"])],
                    area: Annotated[AreaCode, Query(description="Where the job is", examples=["IN-09-0162-0820"])],
                    on: Annotated[date | None, Query(description="Price on this day (default: today there)")] = None
                    ) -> Quote:
    """What a job costs in an area on a day, from the rate card: the job's rate and the visit charge,
    each with the area whose rate applies, and the cancellation terms. What a booking would be
    charged.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 422 an unknown job, an extra or visit item instead of a job, or no government rate for
    it in the area on that day.
    """
    return await catalog.quote(session, job, area, on or local_time(area, now).date())


@router.post("/departments", status_code=status.HTTP_201_CREATED, response_model=DepartmentOut,
             tags=["departments"], summary="Add a government department that books through the marketplace")
async def create_department(body: DepartmentIn, session: DbSession, identity: Writer) -> DepartmentOut:
    """A government department that books workers for its offices (a public works department, a
    district hospital), paid against purchase references.

    **Who:** `marketplace:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `marketplace:admin`; 409 the code exists; 422 a malformed code or area.
    """
    return DepartmentOut.model_validate(dict(await catalog.create_department(session, identity, body)))


@router.get("/departments", response_model=Page[DepartmentOut], tags=["departments"],
            summary="Departments in your area, by code")
async def list_departments(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0
                           ) -> Page[DepartmentOut]:
    """Departments whose area is in your scope, by code.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await CatalogRepository(session).departments(identity.area_scope, limit=limit, offset=offset)
    return Page(items=[DepartmentOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/departments/{code}/offices", status_code=status.HTTP_201_CREATED, response_model=OfficeOut,
             tags=["departments"], summary="Add an office that books against the department")
async def create_office(code: Annotated[Code, Path(description="The department's code", examples=["up-pwd"])],
                        body: OfficeIn, session: DbSession, identity: Writer) -> OfficeOut:
    """An office of the department (a division, a hospital) in an area; its officers book against it
    with a purchase reference, and the department's monthly statement lists its jobs.

    **Who:** `marketplace:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `marketplace:admin`; 404 no such department; 409 the office code exists.
    """
    return OfficeOut.model_validate(dict(await catalog.create_office(session, identity, code, body)))
