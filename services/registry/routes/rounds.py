"""Revision round routes (the January round): open, work items, coverage, diff, close."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from sqlalchemy.engine import RowMapping

from kernel.db import DbSession
from services.registry.routes.common import AREA_PATTERN, Limit, Offset, Reader, Writer
from services.registry.schemas.rounds import (
    CoverageOut,
    ItemClose,
    ItemConfirm,
    ItemEdit,
    ItemOut,
    ItemPage,
    ItemReopen,
    ItemStatusName,
    RoundClose,
    RoundDiff,
    RoundOpen,
    RoundOut,
    RoundPage,
)
from services.registry.service import rounds
from services.registry.settings import get_registry_settings

router = APIRouter(prefix="/rounds", tags=["rounds"])
AreaFilter = Annotated[str | None, Query(max_length=64, pattern=AREA_PATTERN, description="Only this area and below")]


def _item(row: RowMapping) -> ItemOut:
    return ItemOut.model_validate(dict(row))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RoundOut,
             summary="Open the yearly revision round for an area; every active household is carried forward")
async def open_round(body: RoundOpen, session: DbSession, identity: Reader) -> RoundOut:
    return RoundOut.model_validate(dict(await rounds.open_round(session, identity, body)))


@router.get("", response_model=RoundPage, summary="Rounds overlapping your area")
async def list_rounds(
    session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0, area: AreaFilter = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    round_status: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
) -> RoundPage:
    rows, total = await rounds.list_rounds(session, identity, area=area.upper() if area else None, year=year,
                                           status=round_status, limit=limit, offset=offset)
    return RoundPage(items=[RoundOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{round_id}", response_model=RoundOut, summary="A round")
async def get_round(round_id: uuid.UUID, session: DbSession, identity: Reader) -> RoundOut:
    return RoundOut.model_validate(dict(await rounds.get_round(session, identity, round_id)))


@router.get("/{round_id}/items", response_model=ItemPage,
            summary="The round's households in your area (a volunteer's work list), by status")
async def list_items(
    round_id: uuid.UUID, session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0,
    area: AreaFilter = None,
    item_status: Annotated[ItemStatusName | None, Query(alias="status")] = None,
) -> ItemPage:
    rows, total = await rounds.list_items(session, identity, round_id, area=area.upper() if area else None,
                                          status=item_status, limit=limit, offset=offset)
    return ItemPage(items=[_item(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{round_id}/items/{item_id}", response_model=ItemOut, summary="One round item")
async def get_item(round_id: uuid.UUID, item_id: uuid.UUID, session: DbSession, identity: Reader) -> ItemOut:
    return _item(await rounds.get_item(session, identity, round_id, item_id))


@router.post("/{round_id}/items/{item_id}/confirm", response_model=ItemOut,
             summary="Visited: nothing changed")
async def confirm_item(
    round_id: uuid.UUID, item_id: uuid.UUID, body: ItemConfirm, session: DbSession, identity: Writer
) -> ItemOut:
    return _item(await rounds.confirm_item(session, identity, round_id, item_id, body))


@router.post("/{round_id}/items/{item_id}/edit", response_model=ItemOut,
             summary="Visited: record the changes (versioned, with history and events), linked to the item")
async def edit_item(
    round_id: uuid.UUID, item_id: uuid.UUID, body: ItemEdit, session: DbSession, identity: Writer
) -> ItemOut:
    return _item(await rounds.edit_item(session, identity, round_id, item_id, body))


@router.post("/{round_id}/items/{item_id}/close", response_model=ItemOut,
             summary="Visited: the household moved, all members died, or it dissolved (applied at round close)")
async def close_item(
    round_id: uuid.UUID, item_id: uuid.UUID, body: ItemClose, session: DbSession, identity: Writer
) -> ItemOut:
    return _item(await rounds.close_item(session, identity, round_id, item_id, body))


@router.post("/{round_id}/items/{item_id}/reopen", response_model=ItemOut,
             summary="Reviewer: undo a closure before the round closes")
async def reopen_item(
    round_id: uuid.UUID, item_id: uuid.UUID, body: ItemReopen, session: DbSession, identity: Reader
) -> ItemOut:
    return _item(await rounds.reopen_item(session, identity, round_id, item_id, body))


@router.get("/{round_id}/coverage", response_model=CoverageOut,
            summary="Households confirmed + edited + closed over those carried forward, per child area")
async def coverage(round_id: uuid.UUID, session: DbSession, identity: Reader, area: AreaFilter = None) -> CoverageOut:
    return await rounds.coverage(session, identity, round_id, area.upper() if area else None)


@router.get("/{round_id}/diff", response_model=RoundDiff,
            summary="Against the area's previous round: households and persons added, closed, moved, deceased; "
                    "counts by sex and age band (small cells suppressed)")
async def diff(
    round_id: uuid.UUID, session: DbSession, identity: Reader,
    k: Annotated[int | None, Query(ge=2, le=1000, description="Suppression threshold; never below the default")] = None,
) -> RoundDiff:
    threshold = max(k or 0, get_registry_settings().k_anonymity_threshold)
    return await rounds.diff(session, identity, round_id, threshold)


@router.post("/{round_id}/close", response_model=RoundOut,
             summary="Close the round (complete, or forced with a reason); publishes registry.round.closed.v1")
async def close_round(round_id: uuid.UUID, body: RoundClose, session: DbSession, identity: Reader) -> RoundOut:
    return RoundOut.model_validate(dict(await rounds.close_round(session, identity, round_id, body)))
