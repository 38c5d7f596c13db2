"""The review queue of flags and its decisions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from kernel.db import DbSession
from services.benefits.repository.flags import FlagRepository
from services.benefits.routes.common import (
    Admin,
    FlagId,
    Limit,
    Now,
    Offset,
    OptSchemeQuery,
    Reader,
    Reviewer,
    next_link,
)
from services.benefits.schemas.common import Page
from services.benefits.schemas.review import DecisionIn, FlagOut
from services.benefits.service import flags

router = APIRouter(tags=["review"])


@router.get("/flags", response_model=Page[FlagOut], summary="Flags in your area, oldest first")
async def list_flags(session: DbSession, identity: Reader,
                     status: Annotated[Literal["open", "confirmed", "dismissed", "matched"] | None, Query(
                         description="open (to review, the default), confirmed or dismissed")] = "open",
                     scheme: OptSchemeQuery = None, limit: Limit = 50, offset: Offset = 0) -> Page[FlagOut]:
    """Possible double dipping in your area scope, oldest first: an entry that conflicts with another
    grant to the same human (any record the registry linked or merged) or household, raised at
    posting or by the sweep. Filter by status and scheme.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 422 an unknown status or a malformed scheme code.
    """
    rows, total = await FlagRepository(session).listing(scopes=identity.area_scope, status=status,
                                                        scheme_code=scheme, limit=limit, offset=offset)
    return Page(items=[FlagOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/flags", limit=limit, offset=offset, total=total, status=status, scheme=scheme))


@router.get("/flags/{flag_id}", response_model=FlagOut, summary="One flag with its evidence")
async def get_flag(flag_id: FlagId, session: DbSession, identity: Reader) -> FlagOut:
    """One flag with its evidence: the entry, the other entries it conflicts with, the records of the
    same human, the rule version, and the decision if taken.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such flag in your area scope.
    """
    return FlagOut.model_validate(dict(await flags.visible_flag(session, identity, flag_id)))


@router.post("/flags/{flag_id}/decision", response_model=FlagOut,
             summary="Confirm (a recovery entry is recorded) or dismiss with a reason; audited")
async def decide(flag_id: FlagId, body: DecisionIn, session: DbSession, identity: Reviewer, now: Now) -> FlagOut:
    """Confirm the flag (a recovery entry takes the benefit back) or dismiss it (not double dipping),
    with a reason. Audited and published as `benefits.flag.decided.v1`.

    **Who:** `benefits:review` (department_officer at block/upazila level or wider, or a client given
    it); the gateway admits the route with it alone.

    **Errors:** 403 you lack the permission or your scope is too narrow for the flag's area; 404 no
    such flag in your scope; 409 already decided; 422 a reason under 3 characters.
    """
    return FlagOut.model_validate(dict(await flags.decide(session, identity, flag_id, body.decision, body.reason, now)))


@router.post("/sweep", summary="Run the double-dipping sweep over every linked or merged record now")
async def sweep(session: DbSession, identity: Admin) -> dict[str, int]:
    """Re-check every human with more than one registry record (linked or merged) for double dipping
    now, instead of waiting for the hourly sweep; answers how many flags were raised.

    **Who:** `benefits:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `benefits:admin`.
    """
    return {"flags_raised": await flags.sweep_all(session)}
