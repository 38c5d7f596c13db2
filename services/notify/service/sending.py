"""Queueing a message: recipient, language, template, DLT check, encoding and cost, quiet hours, expiry,
and the idempotency key that makes a second request for the same alert return the first one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.notify import MessageFailed
from kernel.errors import NotFound, ValidationProblem
from kernel.outbox import add_event
from services.notify import SERVICE
from services.notify.metrics import FUNNEL, district
from services.notify.providers.twilio import voice_twiml
from services.notify.repository import contacts as contacts_repo
from services.notify.repository import messages as repo
from services.notify.rules.encoding import encode_info, estimated_cost
from services.notify.rules.templates import render
from services.notify.rules.timing import next_allowed, zone_for
from services.notify.service.templates import cost_per_segment, current_template, render_checked
from services.notify.settings import get_notify_settings

COUNTRY_LANGUAGE = {"IN": "hi", "BD": "bn"}
PROMOTIONAL_HOURS = (21, 9)  # DLT: promotional SMS only 09:00-21:00


@dataclass
class Outgoing:
    """One alert to queue (from the API, a reminder, an event rule or a campaign)."""

    idempotency_key: str
    template_key: str
    source: str
    variables: dict[str, str] = field(default_factory=dict)
    to: str | None = None
    person_id: uuid.UUID | None = None
    area_code: str | None = None
    language: str | None = None
    channel: str = "auto"
    valid_until: datetime | None = None
    urgent: bool = False
    cancel_key: str | None = None
    fallback_of: uuid.UUID | None = None
    gather_prompt: str | None = None  # what a call asks after the message (a survey); default: press 9 to stop


@dataclass(frozen=True)
class Recipient:
    phone: str
    area_code: str
    language: str
    prefers_voice: bool
    time_zone: str | None
    person_id: uuid.UUID | None


async def resolve_recipient(session: AsyncSession, out: Outgoing) -> Recipient:
    if out.person_id is None:
        assert out.to is not None and out.area_code is not None
        language = out.language or COUNTRY_LANGUAGE.get(out.area_code[:2].upper(), "en")
        return Recipient(out.to, out.area_code, language, False, None, None)
    person = await contacts_repo.get_contact(session, out.person_id)
    if person is None or person["status"] != "active":
        raise NotFound("No such active person known to notify (persons arrive by registry events).")
    if not person["phones"]:
        raise ValidationProblem("The person has no phone number", errors=[{"field": "person_id", "reason": "no phone"}])
    language = out.language or person["preferred_language"] or COUNTRY_LANGUAGE.get(person["area_code"][:2], "en")
    return Recipient(person["phones"][0], person["area_code"], language, person["prefers_voice"],
                     person["time_zone"], person["person_id"])


def callback_url(kind: str, message_id: uuid.UUID) -> str:
    return f"{get_notify_settings().public_callback_base.rstrip('/')}/callbacks/twilio/{kind}?m={message_id}"


async def enqueue(session: AsyncSession, out: Outgoing, now: datetime) -> tuple[RowMapping, bool]:
    """The queued message (True) or the one this idempotency key already named (False)."""
    settings = get_notify_settings()
    earlier = await repo.by_idempotency_key(session, out.idempotency_key)
    if earlier is not None:  # a retried request or a redelivered event: one indexed read, nothing else
        return earlier, False
    who = await resolve_recipient(session, out)
    tpl = await current_template(session, out.template_key, who.language)
    text = render_checked(tpl, out.variables)
    message_id = uuid.uuid4()
    voice = out.channel == "voice" or (out.channel == "auto" and who.prefers_voice)
    values: dict[str, object] = {"id": message_id, "channel": "voice" if voice else "sms", "body": text,
                              "variables": dict(out.variables)}
    if voice:
        spoken = render(tpl["voice_text"], out.variables) if tpl["voice_text"] else text
        values["twiml"] = voice_twiml(spoken, who.language, audio_url=tpl["audio_url"],
                                      gather_action=callback_url("gather", message_id),
                                      opt_out_prompt=out.gather_prompt)
        values.update(encoding="voice", segments=0, estimated_cost=settings.cost_per_call_minute)
    else:
        info = encode_info(text)
        values.update(encoding=info.encoding, segments=info.segments,
                      estimated_cost=estimated_cost(info.segments, cost_per_segment(who.area_code)))
    quiet = PROMOTIONAL_HOURS if tpl["category"] == "promotional" else (settings.quiet_start_hour,
                                                                        settings.quiet_end_hour)
    not_before = now if out.urgent else next_allowed(now, zone_for(who.area_code, who.time_zone), *quiet)
    opted_out = await contacts_repo.opted_out(session, who.phone) is not None
    values.update(
        idempotency_key=out.idempotency_key, source=out.source, template_id=tpl["id"], template_key=tpl["key"],
        language=who.language, to_phone=who.phone, person_id=who.person_id, area_code=who.area_code,
        status="opted_out" if opted_out else "pending", not_before=not_before,
        valid_until=out.valid_until or now + timedelta(hours=settings.default_validity_hours), urgent=out.urgent,
        cancel_key=out.cancel_key, fallback_of=out.fallback_of, created_at=now, updated_at=now,
        final_at=now if opted_out else None,
    )
    row, created = await repo.insert_message(session, values)
    if created:
        await repo.log_events(session, [{"message_id": row["id"], "kind": "queued", "status": row["status"],
                                         "detail": {"not_before": not_before.isoformat()}}])
        FUNNEL.labels(row["template_key"], district(row["area_code"]), row["channel"], "queued").inc()
        if opted_out:
            await add_event(session, SERVICE, failed_event(row, "opted_out"), source=SERVICE)
    return row, created


def failed_event(row: RowMapping, status: str, error_code: int | None = None) -> MessageFailed:
    return MessageFailed(message_id=row["id"], idempotency_key=row["idempotency_key"], channel=row["channel"],
                         template_key=row["template_key"], area_code=row["area_code"], person_id=row["person_id"],
                         status=status, error_code=error_code)
