"""Household routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from kernel.auth import CurrentIdentity
from kernel.db import DbSession
from services.registry.routes.common import AREA_PATTERN, Limit, Offset, Purpose, Reader, Writer
from services.registry.schemas.households import (
    HouseholdCreate,
    HouseholdOut,
    HouseholdPage,
    HouseholdSummary,
    HouseholdUpdate,
    MemberAdd,
    MemberEnd,
    SurveyDecision,
)
from services.registry.schemas.persons import HistoryPage
from services.registry.service import households, surveys

router = APIRouter(prefix="/households", tags=["households"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=HouseholdOut,
    summary="Register a household with its members (a survey record, status collected)",
)
async def create_household(body: HouseholdCreate, session: DbSession, identity: Writer) -> HouseholdOut:
    row = await households.create(session, identity, body)
    return await households.to_out(session, row)


@router.get("", response_model=HouseholdPage, summary="List households in your area (e.g. the review queue)")
async def list_households(
    session: DbSession,
    identity: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
    area: Annotated[str | None, Query(max_length=64, pattern=AREA_PATTERN)] = None,
    survey_status: Literal["collected", "verified", "approved", "returned"] | None = None,
) -> HouseholdPage:
    rows, total = await households.list_page(
        session, identity, area=area.upper() if area else None, survey_status=survey_status, limit=limit, offset=offset
    )
    items = [HouseholdSummary.model_validate(dict(r)) for r in rows]
    return HouseholdPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{household_id}", response_model=HouseholdOut, summary="A household with its members (audited read)")
async def get_household(
    household_id: uuid.UUID, session: DbSession, identity: Reader, purpose: Purpose
) -> HouseholdOut:
    return await households.read(session, identity, household_id, purpose)


@router.patch("/{household_id}", response_model=HouseholdOut, summary="Edit a household; a new area_code moves it")
async def update_household(
    household_id: uuid.UUID, body: HouseholdUpdate, session: DbSession, identity: Writer
) -> HouseholdOut:
    row = await households.update(session, identity, household_id, body)
    return await households.to_out(session, row)


@router.post(
    "/{household_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=HouseholdOut,
    summary="Add a new or existing person to the household",
)
async def add_member(household_id: uuid.UUID, body: MemberAdd, session: DbSession, identity: Writer) -> HouseholdOut:
    row = await households.add_member(session, identity, household_id, body)
    return await households.to_out(session, row)


@router.post(
    "/{household_id}/members/{person_id}/end",
    response_model=HouseholdOut,
    summary="End a membership (moved out, married out, deceased, error)",
)
async def end_member(
    household_id: uuid.UUID, person_id: uuid.UUID, body: MemberEnd, session: DbSession, identity: Writer
) -> HouseholdOut:
    row = await households.end_member(session, identity, household_id, person_id, body)
    return await households.to_out(session, row)


@router.post(
    "/{household_id}/survey",
    response_model=HouseholdOut,
    summary="Verify (ward member), approve (block/upazila office) or return a survey record",
    description="Needs the permission of the action (`registry:survey_verify`, `registry:survey_approve`, "
                "`registry:survey_return`): held by the roles docs/roles.md lists, at its area level, or by a "
                "client given that scope or role. The verifier is never the collector, the approver never "
                "the verifier.",
)
async def decide_survey(
    household_id: uuid.UUID, body: SurveyDecision, session: DbSession, identity: CurrentIdentity
) -> HouseholdOut:
    row = await surveys.decide(session, identity, household_id, body)
    return await households.to_out(session, row)


@router.get("/{household_id}/history", response_model=HistoryPage, summary="Every change to the household")
async def household_history(
    household_id: uuid.UUID,
    session: DbSession,
    identity: Reader,
    purpose: Purpose,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> HistoryPage:
    return HistoryPage(items=await households.history(session, identity, household_id, purpose, limit=limit))
