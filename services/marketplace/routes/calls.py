"""Call-centre calls that ended without a booking."""

from __future__ import annotations

from fastapi import APIRouter, status

from kernel.db import DbSession
from services.marketplace.routes.common import Writer
from services.marketplace.schemas.calls import CallIn, CallOut
from services.marketplace.service import calls

router = APIRouter(prefix="/calls", tags=["reports"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CallOut,
             summary="Record a call-centre call that ended without a booking (for calls per day)")
async def record_call(body: CallIn, session: DbSession, identity: Writer) -> CallOut:
    """Record a call to the call centre that ended without a booking, with why (no worker free, the
    rate declined, an enquiry, ...). A call that booked is recorded by its booking (`POST /bookings`
    with `channel: call_centre`); the adoption report counts both as `calls` and the booked ones as
    `assisted`.

    **Who:** `marketplace:write` and `marketplace:book_assisted` (call-centre agents, e-volunteers),
    for an area in your scope.

    **Errors:** 403 without `marketplace:book_assisted`, or the area is outside your scope; 422 an
    unknown outcome or category, a malformed area code.
    """
    return CallOut.model_validate(dict(await calls.record(session, identity, body)))
