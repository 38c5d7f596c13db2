"""Possible-duplicate review routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from kernel.db import DbSession
from services.registry.routes.common import AreaFilter, Limit, Offset, Purpose, Reader, Writer
from services.registry.schemas.duplicates import (
    DismissDecision,
    DuplicateOut,
    DuplicatePage,
    MergeDecision,
    MergeOutcome,
)
from services.registry.service import duplicates

router = APIRouter(prefix="/duplicates", tags=["duplicates"])
CandidateId = Annotated[uuid.UUID, Path(description="The pair's id (`id` of an item of GET /duplicates)")]


@router.get("", response_model=DuplicatePage, summary="The review queue of possible duplicates in your area")
async def list_duplicates(
    session: DbSession, identity: Reader, purpose: Purpose, limit: Limit = 50, offset: Offset = 0,
    area: AreaFilter = None,
    status: Annotated[Literal["open", "merged", "dismissed"], Query(
        description="open (to review, the default), or decided pairs: merged, dismissed")] = "open",
) -> DuplicatePage:
    """Pairs of person records that may be the same person, flagged when a record was created, edited
    or imported: the same identifier on two records, or names, parents, birth year and place that
    the matcher scores alike (`details` shows each compared field and its weight). Each item shows
    both people (masked). Oldest first, by id on ties, so paging never skips or repeats a pair.
    Audited with your purpose.

    **Who:** `registry:read`; send `X-Purpose`.

    **Errors:** 422 a malformed area code, an unknown status, or no `X-Purpose`.
    """
    items, total = await duplicates.list_queue(session, identity, area=area.upper() if area else None, status=status,
                                               limit=limit, offset=offset, purpose=purpose)
    return DuplicatePage(items=items, total=total, limit=limit, offset=offset)


@router.post("/{candidate_id}/merge", response_model=MergeOutcome, summary="Merge the pair into the survivor")
async def merge(candidate_id: CandidateId, body: MergeDecision, session: DbSession, identity: Writer) -> MergeOutcome:
    """The two records are one person: `survivor_id` (one of the pair) stays, the other becomes
    `merged` and points to it. Identifiers the survivor lacks move to it, empty fields are filled
    from the merged record, memberships and history follow; `registry.person.merged.v1` tells the
    other services. Lookups of the merged record's identifiers find the survivor.

    **Who:** `registry:write`, with both records in your area scope.

    **Errors:** 404 no such pair in your scope (or one record outside it); 409 the pair was already
    decided, or a record was already merged; 422 `survivor_id` is not one of the pair, a note under 3
    characters.
    """
    return await duplicates.merge(session, identity, candidate_id, body)


@router.post("/{candidate_id}/dismiss", response_model=DuplicateOut, summary="Not the same person")
async def dismiss(candidate_id: CandidateId, body: DismissDecision, session: DbSession,
                  identity: Writer) -> DuplicateOut:
    """The two records are different people (twins, namesakes in one village): the pair leaves the
    queue as `dismissed` with your note and is never flagged again.

    **Who:** `registry:write`.

    **Errors:** 404 no such pair in your scope; 409 the pair was already decided; 422 a note under 3
    characters.
    """
    return await duplicates.dismiss(session, identity, candidate_id, body)
