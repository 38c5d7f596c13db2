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
CodePath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z]{2}(-\d{1,6}){0,5}$",
                                description="Area code (country, then up to five levels), e.g. BD-40-87-90-54-08",
                                examples=["BD-40-87-90-54-08"])]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AreaRead, summary="Add an area")
async def create_area(body: AreaCreate, session: DbSession, identity: Writer) -> AreaRead:
    """Register an administrative area under an existing parent (a country code such as `BD` or `IN` is
    created on first use). The code's depth sets the level: `BD-40` division, `BD-40-87` district,
    `BD-40-87-90` upazila, `BD-40-87-90-54` union, `BD-40-87-90-54-08` ward (India: state, district,
    block, gram panchayat, village). Publishes `registry.area.created.v1`, which the other services'
    area replicas follow.

    **Who:** `registry:write`, for an area whose parent lies in the caller's area scope.

    **Errors:** 403 the parent is outside your area scope; 409 the code already exists; 422 the parent
    area is not registered, or the code is malformed.
    """
    return AreaRead.model_validate(await service.create_area(session, identity, body))


@router.get("", response_model=AreaPage, summary="List areas: children of a parent, or all in your scope")
async def list_areas(
    session: DbSession,
    identity: Reader,
    parent: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z]{2}(-\d{1,6}){0,5}$",
                                        description="List only this area's children", examples=["BD-40-87-90"])] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (at most 500)")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip (the page's start)")] = 0,
) -> AreaPage:
    """Without `parent`: every area in your area scope, in code order. With `parent`: its direct
    children that you may see. Paged (`limit`, `offset`; `total` counts them all).

    **Who:** `registry:read`.

    **Errors:** 404 `parent` does not exist or is outside your scope; 422 a malformed code.
    """
    areas, total = await service.list_children(session, identity, parent, limit=limit, offset=offset)
    return AreaPage(items=[AreaRead.model_validate(a) for a in areas], total=total, limit=limit, offset=offset)


@router.get("/{code}", response_model=AreaRead, summary="Get an area")
async def get_area(code: CodePath, session: DbSession, identity: Reader) -> AreaRead:
    """One area with its parent, level, names and version. Areas above your scope are visible too
    (to navigate down to your own); other subtrees are not.

    **Who:** `registry:read`.

    **Errors:** 404 no such area, or one outside your scope and not above it.
    """
    return AreaRead.model_validate(await service.get_area(session, identity, code))


@router.patch("/{code}", response_model=AreaRead, summary="Rename an area")
async def update_area(code: CodePath, body: AreaUpdate, session: DbSession, identity: Writer) -> AreaRead:
    """Change an area's `name` or `name_local` (only the fields sent change; the code never does).
    Bumps its version and publishes `registry.area.updated.v1`.

    **Who:** `registry:write`, for an area in your scope.

    **Errors:** 404 no such area in your scope; 422 `name` sent as null or empty.
    """
    return AreaRead.model_validate(await service.update_area(session, identity, code, body))
