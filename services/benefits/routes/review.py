"""The review queue of flags and its decisions."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from kernel.db import DbSession
from services.benefits.repository.flags import FlagRepository
from services.benefits.routes.common import Admin, Limit, Offset, Reader, Reviewer, SchemeQuery, next_link
from services.benefits.schemas.common import Page
from services.benefits.schemas.review import DecisionIn, FlagOut
from services.benefits.service import flags

router = APIRouter(tags=["review"])


@router.get("/flags", response_model=Page[FlagOut], summary="Flags in your area, oldest first")
async def list_flags(session: DbSession, identity: Reader,
                     status: Annotated[Literal["open", "confirmed", "dismissed"] | None, Query()] = "open",
                     scheme: SchemeQuery | None = None, limit: Limit = 50, offset: Offset = 0) -> Page[FlagOut]:
    rows, total = await FlagRepository(session).listing(scopes=identity.area_scope, status=status,
                                                        scheme_code=scheme, limit=limit, offset=offset)
    return Page(items=[FlagOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/flags", limit=limit, offset=offset, total=total, status=status, scheme=scheme))


@router.get("/flags/{flag_id}", response_model=FlagOut, summary="One flag with its evidence")
async def get_flag(flag_id: uuid.UUID, session: DbSession, identity: Reader) -> FlagOut:
    return FlagOut.model_validate(dict(await flags.visible_flag(session, identity, flag_id)))


@router.post("/flags/{flag_id}/decision", response_model=FlagOut,
             summary="Confirm (a recovery entry is recorded) or dismiss with a reason; audited")
async def decide(flag_id: uuid.UUID, body: DecisionIn, session: DbSession, identity: Reviewer) -> FlagOut:
    return FlagOut.model_validate(dict(await flags.decide(session, identity, flag_id, body.decision, body.reason)))


@router.post("/sweep", summary="Run the double-dipping sweep over every linked or merged record now")
async def sweep(session: DbSession, identity: Admin) -> dict[str, int]:
    return {"flags_raised": await flags.sweep_all(session)}
