"""Departments, schemes, rule versions."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from kernel.db import DbSession
from kernel.errors import NotFound
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.routes.common import (
    Admin,
    CodePath,
    Limit,
    Offset,
    OptAreaQuery,
    OptDepartmentQuery,
    Reader,
    next_link,
)
from services.benefits.schemas.catalogue import (
    DepartmentIn,
    DepartmentOut,
    PostersIn,
    RulesIn,
    RuleVersionOut,
    SchemeIn,
    SchemeOut,
)
from services.benefits.schemas.common import Page
from services.benefits.service import catalogue

router = APIRouter(tags=["catalogue"])


@router.post("/departments", response_model=DepartmentOut, status_code=201,
             responses={200: {"model": DepartmentOut, "description": "This code exists: the department as it is"}},
             summary="Add a department (the same code again answers 200 and changes nothing)")
async def add_department(body: DepartmentIn, session: DbSession, identity: Admin, response: Response
                         ) -> DepartmentOut:
    """A department that gives benefits (social services, women and child development, a district
    office), with its names in English and Hindi/Bengali and the clients or operators that post
    its entries. Idempotent by code: the same code again answers 200 with the department as it is.

    **Who:** `benefits:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `benefits:admin`; 422 a malformed code, names outside en/hi/bn, a
    malformed poster id.
    """
    row, created = await catalogue.add_department(session, identity, body)
    response.status_code = 201 if created else 200
    return DepartmentOut.model_validate(row)


@router.put("/departments/{code}/posters", response_model=DepartmentOut,
            summary="Who posts for this department: client ids or operator subjects (replaces the list)")
async def set_posters(code: CodePath, body: PostersIn, session: DbSession, identity: Admin) -> DepartmentOut:
    """Replace the list of who may post entries and files for this department: gateway client ids
    (`cl_...`, a department system) or operator subjects (a user's name). Only they, holding
    `benefits:post`, can record its benefits.

    **Who:** `benefits:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `benefits:admin`; 404 no such department; 422 a malformed poster id.
    """
    return DepartmentOut.model_validate(await catalogue.set_posters(session, identity, code, body.posters))


@router.get("/departments", response_model=Page[DepartmentOut], summary="Departments, by code")
async def departments(session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0
                      ) -> Page[DepartmentOut]:
    """Every department with its country, names and posters, ordered by code.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await CatalogueRepository(session).departments(limit=limit, offset=offset)
    return Page(items=[DepartmentOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/departments", limit=limit, offset=offset, total=total))


@router.post("/schemes", response_model=SchemeOut, status_code=201,
             summary="Add a scheme with its first rule version")
async def add_scheme(body: SchemeIn, session: DbSession, identity: Admin) -> SchemeOut:
    """A benefit scheme (old-age allowance, maternity allowance, a ration, a service) of a department:
    names and descriptions, cash (integer minor units with the country's currency) or kind (quantity
    and unit), frequency, the areas it runs in, validity dates, and its first rule version:
    eligibility as a tree of conditions, exclusivity (once per person or household per period, not
    with other schemes) and what to do on a conflict or an unknown person (reject or hold).

    **Who:** `benefits:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `benefits:admin`; 409 a scheme with this code exists; 422 an unknown
    department, a currency or area outside the department's country, a malformed rule.
    """
    return SchemeOut.model_validate(dict(await catalogue.add_scheme(session, identity, body)))


@router.get("/schemes", response_model=Page[SchemeOut], summary="Schemes, by code; filter by department, area, date")
async def schemes(session: DbSession, identity: Reader, department: OptDepartmentQuery = None,
                  area: OptAreaQuery = None,
                  on: Annotated[date | None, Query(description="Only schemes valid on this day")] = None,
                  limit: Limit = 50, offset: Offset = 0
                  ) -> Page[SchemeOut]:
    """The scheme catalogue, ordered by code, with each scheme's current rule version; filter by
    `department`, by `area` (schemes that run there) and by `on` (valid that day).

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 422 a malformed area or department code, a malformed date.
    """
    rows, total = await CatalogueRepository(session).schemes(department_code=department, area=area, on=on,
                                                             limit=limit, offset=offset)
    return Page(items=[SchemeOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/schemes", limit=limit, offset=offset, total=total, department=department,
                               area=area, on=on))


@router.get("/schemes/{code}", response_model=SchemeOut, summary="A scheme with its current rules")
async def scheme(code: CodePath, session: DbSession, identity: Reader) -> SchemeOut:
    """One scheme with its names, amounts or quantity, frequency, areas, validity and current rules.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such scheme.
    """
    row = await CatalogueRepository(session).scheme(code)
    if row is None:
        raise NotFound("No such scheme.")
    return SchemeOut.model_validate(dict(row))


@router.post("/schemes/{code}/rules", response_model=RuleVersionOut, status_code=201,
             summary="A new version of the scheme's rules (earlier decisions keep theirs)")
async def new_rules(code: CodePath, body: RulesIn, session: DbSession, identity: Admin) -> RuleVersionOut:
    """The scheme's next rule version (eligibility, exclusivity, policy, a note). Entries and flags
    keep the version they were decided under; a new version never re-decides them.

    **Who:** `benefits:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `benefits:admin`; 404 no such scheme; 422 a malformed rule (an unknown
    attribute or operator).
    """
    return RuleVersionOut.model_validate(dict(await catalogue.new_rule_version(session, identity, code, body)))


@router.get("/schemes/{code}/rules", response_model=list[RuleVersionOut], summary="Every rule version, oldest first")
async def rule_versions(code: CodePath, session: DbSession, identity: Reader) -> list[RuleVersionOut]:
    """Every rule version of the scheme, oldest first, with who set it and when: the history an
    auditor reads to see under which rules an entry was decided.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such scheme.
    """
    rows = await CatalogueRepository(session).rule_versions(code)
    if not rows:
        raise NotFound("No such scheme.")
    return [RuleVersionOut.model_validate(dict(r)) for r in rows]
