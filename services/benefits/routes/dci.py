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
    """The DCI/IBR beneficiary query a department system asks: for each `enrolled_request` item
    (`enrolled_criteria`: `programme_code`, `query_type: idtype-value`, `query: {type, value}`,
    optional `period`), is the person enrolled in that scheme and what did they receive. Each item
    is answered on its own (`succ`, or `rjct` with `rjct.programme_code.unknown`,
    `rjct.id_type.unsupported`, `rjct.id_value.invalid`, `rjct.query_type.invalid`); identifier
    values are never echoed. The answer is an `on-enrolled` envelope (not signed yet). Audited.

    **Who:** `benefits:read` (a department system's client given it); the gateway admits this POST
    with it.

    **Errors:** 403 without `benefits:read`; 422 an envelope without a header, message or
    `transaction_id`, or more than 100 items.
    """
    return await dci.enrolled(session, identity, body)
