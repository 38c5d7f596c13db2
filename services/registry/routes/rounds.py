"""Revision round routes (the January round): open, work items, coverage, diff, close."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from sqlalchemy.engine import RowMapping

from kernel.db import DbSession
from services.registry.routes.common import AreaFilter, Limit, Offset, Reader, Writer
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
RoundId = Annotated[uuid.UUID, Path(description="The round's id (from POST /rounds or GET /rounds)")]
ItemId = Annotated[uuid.UUID, Path(description="The round item's id (one household of the round: GET .../items)")]
K = Annotated[int | None, Query(ge=2, le=1000, description="Suppression threshold; never below the default")]
Year = Annotated[int | None, Query(ge=2000, le=2100, description="Only rounds of this year", examples=[2027])]


def _item(row: RowMapping) -> ItemOut:
    return ItemOut.model_validate(dict(row))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RoundOut,
             summary="Open the yearly revision round for an area; every active household is carried forward")
async def open_round(body: RoundOpen, session: DbSession, identity: Reader) -> RoundOut:
    """The yearly (January) revision of the register for an area: every active household there becomes
    a `pending` item that a volunteer visits and confirms, edits or closes. Households registered
    during the round are counted as found. With `due_on`, the round is flagged overdue the day after
    (`registry.round.overdue.v1`).

    **Who:** `registry:round_manage` (department_officer, at block/upazila level or wider).

    **Errors:** 403 you lack the permission or your scope is too narrow for the area; 409 a round of
    that year already overlaps the area (the answer names its `round_id`); 422 an unknown area, a
    `due_on` in the past.
    """
    return RoundOut.model_validate(dict(await rounds.open_round(session, identity, body)))


@router.get("", response_model=RoundPage, summary="Rounds overlapping your area")
async def list_rounds(
    session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0, area: AreaFilter = None,
    year: Year = None,
    round_status: Annotated[Literal["open", "closed"] | None,
                            Query(alias="status", description="open or closed")] = None,
) -> RoundPage:
    """Rounds whose area overlaps your area scope (a ward member sees the upazila's round); filter by
    `area`, `year`, `status`.

    **Who:** `registry:read`.

    **Errors:** 422 a malformed area code, a year outside 2000-2100.
    """
    rows, total = await rounds.list_rounds(session, identity, area=area.upper() if area else None, year=year,
                                           status=round_status, limit=limit, offset=offset)
    return RoundPage(items=[RoundOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{round_id}", response_model=RoundOut, summary="A round")
async def get_round(round_id: RoundId, session: DbSession, identity: Reader) -> RoundOut:
    """A round: area, year, status, due date (and when it became overdue), households carried forward,
    who opened and closed it, whether the close was forced, and its version (send it as
    `base_version` when closing).

    **Who:** `registry:read`.

    **Errors:** 404 no such round overlapping your scope.
    """
    return RoundOut.model_validate(dict(await rounds.get_round(session, identity, round_id)))


@router.get("/{round_id}/items", response_model=ItemPage,
            summary="The round's households in your area (a volunteer's work list), by status")
async def list_items(
    round_id: RoundId, session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0,
    area: AreaFilter = None,
    item_status: Annotated[ItemStatusName | None, Query(
        alias="status", description="pending (still to visit), confirmed, edited, closed, unreached")] = None,
) -> ItemPage:
    """The round's households in your area scope, each an item with its status, address, member count
    and version: a volunteer's work list is `?status=pending&area=<ward>`.

    **Who:** `registry:read`.

    **Errors:** 404 no such round overlapping your scope; 422 an unknown status.
    """
    rows, total = await rounds.list_items(session, identity, round_id, area=area.upper() if area else None,
                                          status=item_status, limit=limit, offset=offset)
    return ItemPage(items=[_item(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{round_id}/items/{item_id}", response_model=ItemOut, summary="One round item")
async def get_item(round_id: RoundId, item_id: ItemId, session: DbSession, identity: Reader) -> ItemOut:
    """One household of the round: its status, the decision (who, when, note or outcome), the edits
    made through it, and its version (send it as `base_version` to act on it).

    **Who:** `registry:read`.

    **Errors:** 404 no such round item in your area scope.
    """
    return _item(await rounds.get_item(session, identity, round_id, item_id))


@router.post("/{round_id}/items/{item_id}/confirm", response_model=ItemOut,
             summary="Visited: nothing changed")
async def confirm_item(
    round_id: RoundId, item_id: ItemId, body: ItemConfirm, session: DbSession, identity: Writer
) -> ItemOut:
    """The volunteer visited and nothing changed: the item becomes `confirmed` (an optional note).

    **Who:** `registry:write` (e_volunteer, anganwadi_worker), for the item's area.

    **Errors:** 404 no such item in your scope; 409 the round is closed, the item was already decided
    or changed since `base_version` (with `current_version`), or the household is no longer active
    (close the item instead).
    """
    return _item(await rounds.confirm_item(session, identity, round_id, item_id, body))


@router.post("/{round_id}/items/{item_id}/edit", response_model=ItemOut,
             summary="Visited: record the changes (versioned, with history and events), linked to the item")
async def edit_item(
    round_id: RoundId, item_id: ItemId, body: ItemEdit, session: DbSession, identity: Writer
) -> ItemOut:
    """The volunteer visited and found changes: a new address or GPS (or a move within the round's area),
    corrected person details, members who joined or left, deaths. Each change goes through the
    household and person rules (versioned, with history and events) and is listed on the item, which
    becomes `edited`. All or nothing: one refused change refuses the whole edit.

    **Who:** `registry:write` (e_volunteer, anganwadi_worker), for the item's area.

    **Errors:** 404 no such item in your scope; 409 the round is closed, the item changed since
    `base_version`, or a record's own conflict (a member who already lives elsewhere); 422 nothing to
    edit, a status change (close the item instead), a person who is not a member.
    """
    return _item(await rounds.edit_item(session, identity, round_id, item_id, body))


@router.post("/{round_id}/items/{item_id}/close", response_model=ItemOut,
             summary="Visited: the household moved, all members died, or it dissolved (applied at round close)")
async def close_item(
    round_id: RoundId, item_id: ItemId, body: ItemClose, session: DbSession, identity: Writer
) -> ItemOut:
    """The volunteer found the household gone: `moved` (with `destination_area_code` outside the round's
    area), `deceased` (all members; `deceased_on` if known) or `dissolved`, with what was found. The
    closure is applied to the register when the round closes; a reviewer may reopen it until then.

    **Who:** `registry:write` (e_volunteer, anganwadi_worker), for the item's area.

    **Errors:** 404 no such item in your scope; 409 the round is closed or the item changed since
    `base_version`; 422 `destination_area_code` unknown, inside the round's area, or given for another
    outcome; `deceased_on` in the future.
    """
    return _item(await rounds.close_item(session, identity, round_id, item_id, body))


@router.post("/{round_id}/items/{item_id}/reopen", response_model=ItemOut,
             summary="Reviewer: undo a closure before the round closes")
async def reopen_item(
    round_id: RoundId, item_id: ItemId, body: ItemReopen, session: DbSession, identity: Reader
) -> ItemOut:
    """A reviewer undoes a closure before the round closes (the household was found after all): the
    item goes back to `pending`, with the reason in its history.

    **Who:** `registry:round_reopen` (ward_member, panchayat_secretary, department_officer, at
    village/ward level or wider).

    **Errors:** 403 you lack the permission; 404 no such item in your scope; 409 the round is closed,
    the item is not closed, or it changed since `base_version`.
    """
    return _item(await rounds.reopen_item(session, identity, round_id, item_id, body))


@router.get("/{round_id}/coverage", response_model=CoverageOut,
            summary="Households confirmed + edited + closed over those carried forward, per child area")
async def coverage(round_id: RoundId, session: DbSession, identity: Reader, area: AreaFilter = None) -> CoverageOut:
    """How far the round has got: households confirmed + edited + closed over those carried forward,
    with counts per status and per child area (each union's or ward's progress), outcomes of the
    closed items, households found during the round, and whether it is complete.

    **Who:** `registry:read`.

    **Errors:** 404 no such round overlapping your scope; 422 an `area` outside the round's area.
    """
    return await rounds.coverage(session, identity, round_id, area.upper() if area else None)


@router.get("/{round_id}/diff", response_model=RoundDiff,
            summary="Against the area's previous round: households and persons added, closed, moved, deceased; "
                    "counts by sex and age band (small cells suppressed)")
async def diff(
    round_id: RoundId, session: DbSession, identity: Reader,
    k: K = None,
) -> RoundDiff:
    """The register after this round against the same area's previous closed round: households and
    population, households added, moved, closed, persons added and deceased, counts by sex and age band
    now, before and the change. Cells under the k-anonymity threshold are suppressed (null): safe to
    publish.

    **Who:** `registry:read`, with the round's whole area in your scope.

    **Errors:** 403 the round's area is wider than your scope; 404 no such round overlapping your scope.
    """
    threshold = max(k or 0, get_registry_settings().k_anonymity_threshold)
    return await rounds.diff(session, identity, round_id, threshold)


@router.post("/{round_id}/close", response_model=RoundOut,
             summary="Close the round (complete, or forced with a reason); publishes registry.round.closed.v1")
async def close_round(round_id: RoundId, body: RoundClose, session: DbSession, identity: Reader) -> RoundOut:
    """Close the round: closures found during it are applied to the register (households moved, closed,
    members deceased), households registered during it are counted as found, and
    `registry.round.closed.v1` carries the coverage. With households still pending, send `force:
    true` and a reason: they are marked `unreached`.

    **Who:** `registry:round_manage` (department_officer, at block/upazila level or wider).

    **Errors:** 403 you lack the permission or your scope does not hold the round's area; 404 no such
    round; 409 already closed, a stale `base_version`, or households pending without `force`; 422
    `force` without a reason.
    """
    return RoundOut.model_validate(dict(await rounds.close_round(session, identity, round_id, body)))
