"""Events notify consumes (its outgoing events are declared in ``contracts.notify``)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from contracts.registry import PersonDeceased, PersonMerged, PersonRegistered, PersonUpdated
from kernel.area_replica import area_replica_subscription
from kernel.consumer import Subscription
from services.notify import SERVICE
from services.notify.repository import contacts as repo
from services.notify.repository.duelists import refresh_actionable
from services.notify.service.rules import SUBSCRIPTIONS as RULE_SUBSCRIPTIONS
from services.notify.service.webhooks import SUBSCRIPTIONS as WEBHOOK_SUBSCRIPTIONS


async def apply_person(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    """Keep the contact (phone, language, birth date, pregnancy) notify needs for alerts and due lists."""
    now = datetime.now(timezone.utc)
    if isinstance(event, (PersonRegistered, PersonUpdated)):
        await repo.upsert_contact(session, {
            "person_id": event.person_id, "area_code": event.area_code, "full_name": event.full_name,
            "sex": event.sex, "birth_date": event.birth_date, "pregnant": event.pregnant,
            "pregnancy_registered_on": envelope.occurred_at.date() if event.pregnant else None,
            "phones": event.phones, "preferred_language": event.preferred_language, "status": event.status,
            "version": event.version, "updated_at": now,
        })
        if event.status != "active":
            await _stop_reminders(session, event.person_id, now)
        await refresh_actionable(session, [event.person_id])
    elif isinstance(event, PersonDeceased):
        await repo.set_contact_status(session, event.person_id, "deceased", event.version)
        await _stop_reminders(session, event.person_id, now)
        await refresh_actionable(session, [event.person_id])
    elif isinstance(event, PersonMerged):
        await repo.set_contact_status(session, event.merged_id, "merged", None)
        await _stop_reminders(session, event.merged_id, now)
        await refresh_actionable(session, [event.merged_id])


async def _stop_reminders(session: AsyncSession, person_id: object, now: datetime) -> None:
    from services.notify.service.duelists import cancel_person_reminders

    await cancel_person_reminders(session, person_id, now)  # type: ignore[arg-type]


SUBSCRIPTIONS: list[Subscription] = [
    area_replica_subscription(SERVICE),
    Subscription(name=f"{SERVICE}-persons", subject="registry.person.*.v1", handler=apply_person),
    *RULE_SUBSCRIPTIONS,
    *WEBHOOK_SUBSCRIPTIONS,
]
