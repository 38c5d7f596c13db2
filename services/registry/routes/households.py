"""Household routes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from kernel.auth import CurrentIdentity
from kernel.db import DbSession
from services.registry.routes.common import (
    AreaFilter,
    HistoryLimit,
    HouseholdId,
    Limit,
    Offset,
    PersonId,
    Purpose,
    Reader,
    Writer,
)
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
    """A field survey record: the household's area, address (and local-script address, GPS), and its
    members, each a new person with their identifiers. Exactly one member is the `head`. The record
    starts `survey_status: collected`, with you as collector; a ward member then verifies it and a
    block/upazila officer approves it (`POST /households/{id}/survey`). Identifiers are checked
    (Verhoeff for Aadhaar, length and birth year for NID/BRN) and stored encrypted; a person who may
    already be registered is put on the duplicates queue, not refused. `client_ref` (the device's own
    id) makes a retried create a 409 instead of a second household.

    **Who:** `registry:write` (e_volunteer, anganwadi_worker, admin), for an area in your scope.

    **Errors:** 403 the area is outside your scope; 409 the `client_ref` was used already, or an
    identifier is held live by this person twice; 422 an unknown area, not exactly one head, a bad
    identifier, `pregnant` for someone not female, a name with no letters, unpaired GPS.
    """
    row = await households.create(session, identity, body)
    return await households.to_out(session, row)


@router.get("", response_model=HouseholdPage, summary="List households in your area (e.g. the review queue)")
async def list_households(
    session: DbSession,
    identity: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
    area: AreaFilter = None,
    survey_status: Annotated[Literal["collected", "verified", "approved", "returned"] | None, Query(
        description="Only records at this survey step (collected: to verify; verified: to approve)")] = None,
) -> HouseholdPage:
    """Household summaries (address, status, survey step, member count) in your area scope, ordered by
    area and id. A ward member's review queue is `?survey_status=collected&area=<ward>`, an officer's
    `?survey_status=verified`. No person data, so no purpose is needed.

    **Who:** `registry:read`.

    **Errors:** 422 a malformed area code or an unknown survey status.
    """
    rows, total = await households.list_page(
        session, identity, area=area.upper() if area else None, survey_status=survey_status, limit=limit, offset=offset
    )
    items = [HouseholdSummary.model_validate(dict(r)) for r in rows]
    return HouseholdPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{household_id}", response_model=HouseholdOut, summary="A household with its members (audited read)")
async def get_household(
    household_id: HouseholdId, session: DbSession, identity: Reader, purpose: Purpose
) -> HouseholdOut:
    """The household with its current members (head first), their identifiers masked and phones
    masked, and its survey trail (collected, verified, approved by whom and when). The read is
    audited for the household and each member, with your purpose.

    **Who:** `registry:read`; send `X-Purpose`.

    **Errors:** 404 no such household in your area scope; 422 no `X-Purpose`.
    """
    return await households.read(session, identity, household_id, purpose)


@router.patch("/{household_id}", response_model=HouseholdOut, summary="Edit a household; a new area_code moves it")
async def update_household(
    household_id: HouseholdId, body: HouseholdUpdate, session: DbSession, identity: Writer
) -> HouseholdOut:
    """Change the address, GPS or status (`closed`), or move the household: a new `area_code` moves it
    and all its members (`registry.household.moved.v1`). Send the `version` you read as
    `base_version`; only the fields sent change. An edit sends a verified or approved record back to
    `collected` for review.

    **Who:** `registry:write`, for the household's area and the new one.

    **Errors:** 403 the new area is outside your scope; 404 no such household in your scope; 409
    `base_version` is stale (the answer carries `current_version`); 422 an unknown area, `address`
    null.
    """
    row = await households.update(session, identity, household_id, body)
    return await households.to_out(session, row)


@router.post(
    "/{household_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=HouseholdOut,
    summary="Add a new or existing person to the household",
)
async def add_member(household_id: HouseholdId, body: MemberAdd, session: DbSession, identity: Writer) -> HouseholdOut:
    """Add a newborn or newcomer (`person`: a new record, as in POST /households) or an existing
    person (`person_id`, who moves into this household's area) with a `role`. The household's
    version goes up and the record returns to `collected` for review.

    **Who:** `registry:write`, for the household's area.

    **Errors:** 404 no such household in your scope; 409 the household is closed, it already has a
    head, or the person already lives in a household or is not active; 422 both or neither of
    `person_id` and `person`, an unknown `person_id`, a bad identifier.
    """
    row = await households.add_member(session, identity, household_id, body)
    return await households.to_out(session, row)


@router.post(
    "/{household_id}/members/{person_id}/end",
    response_model=HouseholdOut,
    summary="End a membership (moved out, married out, deceased, error)",
)
async def end_member(
    household_id: HouseholdId, person_id: PersonId, body: MemberEnd, session: DbSession, identity: Writer
) -> HouseholdOut:
    """End the person's current membership on `ended_on` with a reason (`moved_out`, `married_out`,
    `deceased`, `recorded_in_error`, `other`). The person record stays; history keeps the membership.
    For a death, also record it on the person (`POST /persons/{id}/deceased`).

    **Who:** `registry:write`, for the household's area.

    **Errors:** 404 no such household in your scope, or the person is not a current member; 422
    `ended_on` before the membership started.
    """
    row = await households.end_member(session, identity, household_id, person_id, body)
    return await households.to_out(session, row)


@router.post(
    "/{household_id}/survey",
    response_model=HouseholdOut,
    summary="Verify (ward member), approve (block/upazila office) or return a survey record",
    description="Moves the survey record one step: `verify` (collected → verified), `approve` (verified → "
                "approved) or `return` (to the volunteer, with a `reason`; an edit makes it collected again). "
                "Send the `version` you reviewed as `base_version`.\n\n"
                "**Who:** the permission of the action (`registry:survey_verify`: ward_member, "
                "panchayat_secretary at village/ward level or wider; `registry:survey_approve`: "
                "department_officer at block/upazila level or wider; `registry:survey_return`: any of them), "
                "held through a role or as a client's scope (see docs/roles.md). The verifier is never the "
                "collector, the approver never the verifier.\n\n"
                "**Errors:** 403 you lack the permission, your scope is too narrow for it, or the four-eyes rule "
                "(you collected / verified it yourself); 404 no such household in your scope; 409 the record "
                "is not at the step the action needs, or `base_version` is stale; 422 `return` without a "
                "reason, or `verify` of a household without exactly one head.",
)
async def decide_survey(
    household_id: HouseholdId, body: SurveyDecision, session: DbSession, identity: CurrentIdentity
) -> HouseholdOut:
    row = await surveys.decide(session, identity, household_id, body)
    return await households.to_out(session, row)


@router.get("/{household_id}/history", response_model=HistoryPage, summary="Every change to the household")
async def household_history(
    household_id: HouseholdId,
    session: DbSession,
    identity: Reader,
    purpose: Purpose,
    limit: HistoryLimit = 200,
) -> HistoryPage:
    """Every change to the household, newest first: creation (or its bulk-import row), edits with each
    field's old and new value, moves, members added and ended, survey decisions, with who and when.
    Audited with your purpose.

    **Who:** `registry:read`; send `X-Purpose`.

    **Errors:** 404 no such household in your scope; 422 no `X-Purpose`.
    """
    return HistoryPage(items=await households.history(session, identity, household_id, purpose, limit=limit))
