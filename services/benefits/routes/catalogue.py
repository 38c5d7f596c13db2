"""Departments, schemes, rule versions."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from kernel.db import DbSession
from kernel.errors import NotFound
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.routes.common import Admin, AreaQuery, CodePath, Limit, Offset, Reader, next_link
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
             summary="Add a department (the same code again answers 200 and changes nothing)")
async def add_department(body: DepartmentIn, session: DbSession, identity: Admin, response: Response
                         ) -> DepartmentOut:
    row, created = await catalogue.add_department(session, identity, body)
    response.status_code = 201 if created else 200
    return DepartmentOut.model_validate(row)


@router.put("/departments/{code}/posters", response_model=DepartmentOut,
            summary="Who posts for this department: client ids or operator subjects (replaces the list)")
async def set_posters(code: CodePath, body: PostersIn, session: DbSession, identity: Admin) -> DepartmentOut:
    return DepartmentOut.model_validate(await catalogue.set_posters(session, identity, code, body.posters))


@router.get("/departments", response_model=Page[DepartmentOut], summary="Departments, by code")
async def departments(session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0
                      ) -> Page[DepartmentOut]:
    rows, total = await CatalogueRepository(session).departments(limit=limit, offset=offset)
    return Page(items=[DepartmentOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/departments", limit=limit, offset=offset, total=total))


@router.post("/schemes", response_model=SchemeOut, status_code=201,
             summary="Add a scheme with its first rule version")
async def add_scheme(body: SchemeIn, session: DbSession, identity: Admin) -> SchemeOut:
    return SchemeOut.model_validate(dict(await catalogue.add_scheme(session, identity, body)))


@router.get("/schemes", response_model=Page[SchemeOut], summary="Schemes, by code; filter by department, area, date")
async def schemes(session: DbSession, identity: Reader, department: Annotated[str | None, Query(max_length=40)] = None,
                  area: AreaQuery | None = None, on: date | None = None, limit: Limit = 50, offset: Offset = 0
                  ) -> Page[SchemeOut]:
    rows, total = await CatalogueRepository(session).schemes(department_code=department, area=area, on=on,
                                                             limit=limit, offset=offset)
    return Page(items=[SchemeOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/schemes", limit=limit, offset=offset, total=total, department=department,
                               area=area, on=on))


@router.get("/schemes/{code}", response_model=SchemeOut, summary="A scheme with its current rules")
async def scheme(code: CodePath, session: DbSession, identity: Reader) -> SchemeOut:
    row = await CatalogueRepository(session).scheme(code)
    if row is None:
        raise NotFound("No such scheme.")
    return SchemeOut.model_validate(dict(row))


@router.post("/schemes/{code}/rules", response_model=RuleVersionOut, status_code=201,
             summary="A new version of the scheme's rules (earlier decisions keep theirs)")
async def new_rules(code: CodePath, body: RulesIn, session: DbSession, identity: Admin) -> RuleVersionOut:
    return RuleVersionOut.model_validate(dict(await catalogue.new_rule_version(session, identity, code, body)))


@router.get("/schemes/{code}/rules", response_model=list[RuleVersionOut], summary="Every rule version, oldest first")
async def rule_versions(code: CodePath, session: DbSession, identity: Reader) -> list[RuleVersionOut]:
    rows = await CatalogueRepository(session).rule_versions(code)
    if not rows:
        raise NotFound("No such scheme.")
    return [RuleVersionOut.model_validate(dict(r)) for r in rows]
