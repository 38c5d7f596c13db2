"""A person's delivery preferences (voice instead of SMS, time zone), set by an operator on request."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter

from kernel.db import DbSession
from kernel.errors import NotFound, ValidationProblem
from services.notify.repository import contacts as repo
from services.notify.routes.common import OptOutRecorder, PersonId
from services.notify.schemas.messages import ContactPreferences, ContactRead
from services.notify.service.common import mask_phone

router = APIRouter(prefix="/contacts", tags=["contacts"])


@router.put("/{person_id}/preferences", response_model=ContactRead,
            summary="Voice calls instead of SMS for a person who cannot read; the person's time zone")
async def put_preferences(person_id: PersonId, body: ContactPreferences, session: DbSession,
                          identity: OptOutRecorder) -> ContactRead:
    """Record what the person asked for: voice calls instead of SMS (someone who cannot read) and
    their time zone for quiet hours. Messages queued after this follow it.

    **Who:** `notify:opt_out` (help desks, anganwadi workers, department officers); the gateway admits the route
    with it alone.

    **Errors:** 403 without `notify:opt_out`; 404 no such person known to notify in your area; 422 an
    unknown time zone.
    """
    if body.time_zone:
        try:
            ZoneInfo(body.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationProblem("Unknown time zone", errors=[{"field": "time_zone", "reason": "not IANA"}]) from exc
    found = await repo.get_contact(session, person_id)
    if found is None or not identity.can_access_area(found["area_code"]):
        raise NotFound("No such person known to notify in your area.")
    row = await repo.set_preferences(session, person_id, prefers_voice=body.prefers_voice, time_zone=body.time_zone)
    assert row is not None
    return ContactRead(person_id=row["person_id"], area_code=row["area_code"],
                       preferred_language=row["preferred_language"], prefers_voice=row["prefers_voice"],
                       time_zone=row["time_zone"], phones_masked=[mask_phone(p) for p in row["phones"]])
