"""Provider callbacks: delivery status (forward-only), keypresses in a call, missed calls.

Twilio sends no callback for the initial status and may deliver the others late, twice or out of
order, so a status moves a message only forward (``rules.status``).  Every callback is logged in the
message's delivery log, applied or not.  An SMS that did not arrive becomes a voice call in the
person's language when the template has one (fallback), unless the phone has opted out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.notify import MessageDelivered
from kernel.outbox import add_event
from services.notify import SERVICE
from services.notify.metrics import CALLBACKS, FUNNEL, district
from services.notify.repository import contacts as contacts_repo
from services.notify.repository import messages as repo
from services.notify.rules.status import FINAL_FOR_FUNNEL, NOT_ARRIVED, advance
from services.notify.service.campaigns import keypress_answer
from services.notify.service.optouts import record_opt_out
from services.notify.service.sending import Outgoing, enqueue, failed_event

OPT_OUT_DIGIT = "9"


async def apply_status(session: AsyncSession, message_id: uuid.UUID, params: Mapping[str, str],
                       now: datetime) -> str | None:
    """Apply one status callback; returns the message's status afterwards (None: unknown message)."""
    kind = "voice" if "CallSid" in params else "sms"
    provider_id = params.get("CallSid") or params.get("MessageSid") or ""
    incoming = params.get("CallStatus") or params.get("MessageStatus") or ""
    row = await repo.get(session, message_id, lock=True)
    if row is None or (row["provider_id"] and row["provider_id"] != provider_id):
        CALLBACKS.labels(kind, "unknown").inc()
        return None
    code = int(params["ErrorCode"]) if params.get("ErrorCode", "").isdigit() else None
    new = advance(row["status"], incoming)
    applied = new != row["status"]
    await repo.log_events(session, [{"message_id": row["id"], "kind": "callback", "status": incoming,
                                     "applied": applied, "detail": {"error_code": code}}])
    CALLBACKS.labels(kind, "applied" if applied else "stale").inc()
    if not row["provider_id"]:
        await repo.set_status(session, [row["id"]], now, provider_id=provider_id)
    if not applied:
        return str(row["status"])
    final = FINAL_FOR_FUNNEL.get(new)
    await repo.set_status(session, [row["id"]], now, status=new, error_code=code,
                          **({"final_at": now} if final else {}))
    if final and FINAL_FOR_FUNNEL.get(row["status"]) != final:
        FUNNEL.labels(row["template_key"], district(row["area_code"]), row["channel"], final).inc()
        event = (MessageDelivered(message_id=row["id"], idempotency_key=row["idempotency_key"],
                                  channel=row["channel"], template_key=row["template_key"],
                                  area_code=row["area_code"], person_id=row["person_id"], status=new)
                 if final == "delivered" else failed_event(row, new, code))
        await add_event(session, SERVICE, event, source=SERVICE)
    if new in NOT_ARRIVED and row["channel"] == "sms":
        await voice_fallback(session, row, now)
    return new


async def voice_fallback(session: AsyncSession, row: RowMapping, now: datetime) -> None:
    """Call the person with the same alert, once (the idempotency key is derived from the SMS's)."""
    if await contacts_repo.opted_out(session, str(row["to_phone"])) is not None:
        return
    original = await repo.get(session, row["id"])  # type: ignore[arg-type]
    assert original is not None
    await enqueue(session, Outgoing(
        idempotency_key=f"{row['idempotency_key']}:voice", template_key=str(row["template_key"]), source="fallback",
        to=str(row["to_phone"]), area_code=str(row["area_code"]), language=str(row["language"]), channel="voice",
        person_id=None, valid_until=original["valid_until"], urgent=bool(row["urgent"]),
        cancel_key=original["cancel_key"], fallback_of=original["id"],
        variables=dict(original["variables"] or {}),
    ), now)


async def keypress(session: AsyncSession, message_id: uuid.UUID, digits: str, now: datetime) -> str:
    """A digit pressed in one of our calls: 9 opts the phone out, 1..N answers a survey call.
    Returns ``opted_out``, ``answered`` or ``ignored``."""
    row = await repo.get(session, message_id)
    if row is None:
        return "ignored"
    if digits.strip() != OPT_OUT_DIGIT:
        return "answered" if await keypress_answer(session, message_id, digits, now) else "ignored"
    stopped = await record_opt_out(session, phone=row["to_phone"], source="voice_keypress", actor="callee", now=now,
                                   person_id=row["person_id"], area_code=row["area_code"],
                                   reason="pressed 9 in a call")
    return "opted_out" if stopped else "ignored"


async def missed_call(session: AsyncSession, caller: str, now: datetime) -> bool:
    """A call to the opt-out number (rejected unanswered, so it costs the caller nothing)."""
    return await record_opt_out(session, phone=caller, source="missed_call", actor="caller", now=now,
                                reason="missed call to the opt-out number")
