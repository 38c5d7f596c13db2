"""Possible-duplicate review routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from kernel.db import DbSession
from services.registry.routes.common import AREA_PATTERN, Limit, Offset, Purpose, Reader, Writer
from services.registry.schemas.duplicates import (
    DismissDecision,
    DuplicateOut,
    DuplicatePage,
    MergeDecision,
    MergeOutcome,
)
from services.registry.service import duplicates

router = APIRouter(prefix="/duplicates", tags=["duplicates"])


@router.get("", response_model=DuplicatePage, summary="The review queue of possible duplicates in your area")
async def list_duplicates(
    session: DbSession, identity: Reader, purpose: Purpose, limit: Limit = 50, offset: Offset = 0,
    area: Annotated[str | None, Query(max_length=64, pattern=AREA_PATTERN)] = None,
    status: Literal["open", "merged", "dismissed"] = "open",
) -> DuplicatePage:
    items, total = await duplicates.list_queue(session, identity, area=area.upper() if area else None, status=status,
                                               limit=limit, offset=offset, purpose=purpose)
    return DuplicatePage(items=items, total=total, limit=limit, offset=offset)


@router.post("/{candidate_id}/merge", response_model=MergeOutcome, summary="Merge the pair into the survivor")
async def merge(candidate_id: uuid.UUID, body: MergeDecision, session: DbSession, identity: Writer) -> MergeOutcome:
    return await duplicates.merge(session, identity, candidate_id, body)


@router.post("/{candidate_id}/dismiss", response_model=DuplicateOut, summary="Not the same person")
async def dismiss(candidate_id: uuid.UUID, body: DismissDecision, session: DbSession, identity: Writer) -> DuplicateOut:
    return await duplicates.dismiss(session, identity, candidate_id, body)
