"""Area queries: the priority list (JSON or CSV) and k-anonymous statistics."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from kernel.db import DbSession
from services.registry.routes.common import CodePath, Purpose, Reader
from services.registry.schemas.queries import PriorityList, PriorityReason, Statistics
from services.registry.service import queries
from services.registry.settings import get_registry_settings

router = APIRouter(prefix="/areas", tags=["queries"])


@router.get(
    "/{code}/priority-list", response_model=PriorityList,
    summary="Who needs help first (elderly 60+, disability, pregnant, under five, single-woman-headed households)",
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
)
async def priority_list(
    code: CodePath, session: DbSession, identity: Reader, purpose: Purpose,
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv (a spreadsheet download)")] = "json",
    category: Annotated[list[PriorityReason] | None, Query(description="Only these reasons")] = None,
) -> Response:
    """Everyone in the area (and below) who needs help first, with the reasons that apply: `elderly` (60+),
    `disability`, `pregnant`, `under_five`, `single_woman_head` (a woman heading a household with no
    live spouse). Each entry has the household address and masked phones, for a visit list; filter with
    `category` (repeatable). At most `GRAMSETU_REGISTRY_EXPORT_MAX_ROWS` (100,000) people are considered;
    when more exist the answer carries `X-Truncated: true`. The read is audited with your purpose.

    **Who:** `registry:read`, for an area in your scope; send `X-Purpose`.

    **Errors:** 404 the area is outside your scope; 422 no `X-Purpose`, or an unknown category.
    """
    result, truncated = await queries.priority_list(session, identity, code.upper(), purpose,
                                                    categories=set(category) if category else None)
    headers = {"X-Truncated": "true"} if truncated else {}
    if format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="priority-{result.area_code}-{result.as_of}.csv"'
        return Response(queries.priority_csv(result), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(result.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/{code}/statistics", response_model=Statistics,
            summary="Population by sex and age band, households and identifier coverage, small cells suppressed")
async def statistics(
    code: CodePath, session: DbSession, identity: Reader,
    k: Annotated[int | None, Query(ge=2, le=1000, description="Suppression threshold; never below the default")] = None,
) -> Statistics:
    """Population by sex and age band, households, and identifier coverage (how many hold an Aadhaar, NID,
    BRN, ...) for an area and everything below it. Every cell below the k-anonymity threshold
    (`GRAMSETU_REGISTRY_K_ANONYMITY_THRESHOLD`, or a larger `k` you ask for) is suppressed: `value`
    null, `suppressed` true. No names, no person ids: safe to publish.

    **Who:** `registry:read`, for an area in your scope.

    **Errors:** 404 the area is outside your scope; 422 `k` below 2.
    """
    threshold = max(k or 0, get_registry_settings().k_anonymity_threshold)
    return await queries.statistics(session, identity, code.upper(), threshold)
