"""Events marketplace consumes (its outgoing events are declared in ``contracts``).

The registry copy (service/registry.py): person registrations, updates, deaths and merges on one
durable consumer, each event applied once through the kernel's inbox.  Person subjects it does not
need (duplicate links) are acknowledged and ignored.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from kernel.area_replica import area_replica_subscription
from kernel.consumer import Handler, Subscription
from services.marketplace import SERVICE
from services.marketplace.service import registry

PERSON_HANDLERS: dict[str, Handler] = {
    "registry.person.registered.v1": registry.apply_person,
    "registry.person.updated.v1": registry.apply_person,
    "registry.person.deceased.v1": registry.apply_deceased,
    "registry.person.merged.v1": registry.apply_merged,
}


async def _persons(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    handler = PERSON_HANDLERS.get(envelope.type)
    if handler is not None:
        await handler(session, event, envelope)


SUBSCRIPTIONS: list[Subscription] = [
    area_replica_subscription(SERVICE),
    Subscription(f"{SERVICE}-registry-persons", "registry.person.*.v1", _persons),
]
