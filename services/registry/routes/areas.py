"""Registry HTTP routes: parse, authorise, delegate to service functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from kernel.auth import Identity, require_scope
from kernel.db import DbSession
from services.registry import service
from services.registry.schemas import AreaCreate, AreaPage, AreaRead, AreaUpdate

router = APIRouter(prefix="/areas", tags=["areas"])
Reader = Annotated[Identity, require_scope("registry:read")]
Writer = Annotated[Identity, require_scope("registry:write")]
CodePath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z]{2}(-\d{1,6}){0,5}$")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AreaRead, summary="Add an area")
async def create_area(body: AreaCreate, session: DbSession, identity: Writer) -> AreaRead:
    return AreaRead.model_validate(await service.create_area(session, identity, body))


@router.get("", response_model=AreaPage, summary="List areas: children of a parent, or all in your scope")
async def list_areas(
    session: DbSession,
    identity: Reader,
    parent: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z]{2}(-\d{1,6}){0,5}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AreaPage:
    areas, total = await service.list_children(session, identity, parent, limit=limit, offset=offset)
    return AreaPage(items=[AreaRead.model_validate(a) for a in areas], total=total, limit=limit, offset=offset)


@router.get("/{code}", response_model=AreaRead, summary="Get an area")
async def get_area(code: CodePath, session: DbSession, identity: Reader) -> AreaRead:
    return AreaRead.model_validate(await service.get_area(session, identity, code))


@router.patch("/{code}", response_model=AreaRead, summary="Rename an area")
async def update_area(code: CodePath, body: AreaUpdate, session: DbSession, identity: Writer) -> AreaRead:
    return AreaRead.model_validate(await service.update_area(session, identity, code, body))
