"""Event-driven sends: a rule (data) names an event subject, a template, where in the event the recipient
and the variables are, and which field is the event's own idempotency key.  Every matching rule queues one
message per event and rule (key ``rule:<name>:<event key>``), so a redelivered or replayed event, or the
same business fact published twice, never sends twice.  An event a rule cannot serve (no phone, no
template in that language, text too long for the DLT template) is logged and skipped: retrying cannot help.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from kernel.consumer import Subscription
from kernel.errors import Problem
from services.notify import SERVICE
from services.notify.repository import rules as repo
from services.notify.service.sending import Outgoing, enqueue

log = logging.getLogger("gramsetu.notify.rules")
SOURCES = ("tickets", "marketplace", "benefits")  # services whose events rules may name


def _field(data: dict[str, Any], path: str | None) -> Any:
    value: Any = data
    for part in (path or "").split("."):
        if not part:
            return None
        value = value.get(part) if isinstance(value, dict) else None
    return value


def event_key(data: dict[str, Any], paths: str | None) -> str | None:
    """The event's key for this rule: one field, or several (``booking_id+worker_id``) joined by ``:``;
    None when any part is missing (the envelope id stands in)."""
    parts = [_field(data, path) for path in (paths or "").split("+")]
    return ":".join(str(p) for p in parts) if all(p not in (None, "") for p in parts) else None


async def apply_rules(session: AsyncSession, event: Event, envelope: Envelope) -> int:
    """Queue the messages every enabled rule for this subject asks for; returns how many were new."""
    data = envelope.data
    queued = 0
    for rule in await repo.for_subject(session, envelope.type):
        phone, person = _field(data, rule["phone_field"]), _field(data, rule["person_field"])
        area = _field(data, "area_code")
        if not (phone and area) and not person:
            continue
        key = event_key(data, rule["key_field"]) or str(envelope.id)
        variables = {name: str(_field(data, path) or "")[:30] for name, path in rule["variables"].items()}
        variables.update({name: str(text) for name, text in rule["constants"].items()})
        out = Outgoing(
            idempotency_key=f"rule:{rule['name']}:{key}"[:200], template_key=rule["template_key"], source="rule",
            variables=variables, to=phone or None, person_id=uuid.UUID(str(person)) if person and not phone else None,
            area_code=area if phone else None, language=_field(data, rule["language_field"]),
            urgent=rule["urgent"],
            valid_until=datetime.now(timezone.utc) + timedelta(minutes=rule["valid_for_minutes"]))
        try:
            async with session.begin_nested():
                _, created = await enqueue(session, out, datetime.now(timezone.utc))
        except Problem as exc:
            log.warning("rule %s skipped %s: %s", rule["name"], envelope.type, exc)
            continue
        queued += int(created)
    return queued


async def _handle(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    await apply_rules(session, event, envelope)


SUBSCRIPTIONS = [Subscription(name=f"{SERVICE}-rules-{source}", subject=f"{source}.>", handler=_handle)
                 for source in SOURCES]
