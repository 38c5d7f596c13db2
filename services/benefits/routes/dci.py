"""The DCI-style beneficiary query."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kernel.db import DbSession
from services.benefits.routes.common import Reader
from services.benefits.schemas.dci import Envelope
from services.benefits.service import dci

router = APIRouter(tags=["dci"])


@router.post("/ibr/sync/enrolled",
             summary="DCI/IBR: is this person enrolled in the programme, and what did they receive (per item)")
async def enrolled(body: Envelope, session: DbSession, identity: Reader) -> dict[str, Any]:
    return await dci.enrolled(session, identity, body)
