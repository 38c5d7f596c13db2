"""Opt-out without two-way SMS (India): a keypress in a call, a missed call, or an operator on request.
Recorded once per phone; every pending message to that phone is cancelled in the same transaction, and
the dispatcher checks the list again when it claims a message, so an opt-out is honoured at once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.notify import OptOutRecorded
from kernel.outbox import add_event
from services.notify import SERVICE
from services.notify.metrics import OPT_OUTS
from services.notify.repository import contacts as repo
from services.notify.repository import messages as messages_repo


async def record_opt_out(session: AsyncSession, *, phone: str, source: str, actor: str, now: datetime,
                         person_id: uuid.UUID | None = None, area_code: str | None = None,
                         reason: str | None = None) -> bool:
    """True if this phone was not opted out before."""
    added = await repo.add_opt_out(session, {"phone": phone, "person_id": person_id, "source": source,
                                             "reason": reason, "actor": actor, "created_at": now})
    if not added:
        return False
    cancelled = await messages_repo.cancel_pending(session, to_phone=phone, status="opted_out", now=now)
    await messages_repo.log_events(session, [
        {"message_id": row["id"], "kind": "opted_out", "status": "opted_out", "detail": {"source": source}}
        for row in cancelled])
    await add_event(session, SERVICE, OptOutRecorded(source=source, person_id=person_id,  # type: ignore[arg-type]
                                                     area_code=area_code, phone_last4=phone[-4:]), source=SERVICE)
    OPT_OUTS.labels(source).inc()
    return True
