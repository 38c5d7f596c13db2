"""Events benefits consumes (its outgoing events are declared in ``contracts.benefits``).

The registry copy: persons (with their identifiers' keyed lookup hashes), deaths, merges and
duplicate links on one durable consumer, households on another; each event is applied once
through the kernel's inbox.  Subjects this service does not need (e.g. a future person event) are
acknowledged and ignored.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from kernel.area_replica import area_replica_subscription
from kernel.consumer import Handler, Subscription
from services.benefits import SERVICE
from services.benefits.service import replica

PERSON_HANDLERS: dict[str, Handler] = {
    "registry.person.registered.v1": replica.apply_person,
    "registry.person.updated.v1": replica.apply_person,
    "registry.person.deceased.v1": replica.apply_deceased,
    "registry.person.merged.v1": replica.apply_merged,
    "registry.person.duplicate_linked.v1": replica.apply_duplicate_linked,
    "registry.person.duplicate_dismissed.v1": replica.apply_duplicate_dismissed,
}
HOUSEHOLD_HANDLERS: dict[str, Handler] = {
    "registry.household.created.v1": replica.apply_household,
    "registry.household.updated.v1": replica.apply_household,
    "registry.household.moved.v1": replica.apply_household_moved,
}


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    async def handle(session: AsyncSession, event: Event, envelope: Envelope) -> None:
        handler = handlers.get(envelope.type)
        if handler is not None:
            await handler(session, event, envelope)

    return handle


SUBSCRIPTIONS: list[Subscription] = [
    area_replica_subscription(SERVICE),
    Subscription(f"{SERVICE}-registry-persons", "registry.person.*.v1", _dispatch(PERSON_HANDLERS)),
    Subscription(f"{SERVICE}-registry-households", "registry.household.*.v1", _dispatch(HOUSEHOLD_HANDLERS)),
]
