"""Events tickets consumes (its outgoing events are declared in ``contracts/tickets.py``).

* ``registry.area.*``: the area replica (names on desks, the hierarchy escalation follows).
* ``registry.person.deceased``: open tickets about the person get an internal note, so the desk
  does not keep calling a bereaved family about a ration card it can no longer change.
* ``marketplace.complaint.raised``: a ticket of category ``marketplace_complaint`` per complaint
  (keyed by the complaint id, so a redelivery adds nothing), routed to the desk of the booking's area.
  With no desk for that area the event fails and, after its retries, waits in the DLQ for a replay
  once a desk exists (``gramsetu dlq list``), rather than being dropped.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from contracts.marketplace import ComplaintRaised
from contracts.registry import PersonDeceased
from kernel.area_replica import area_replica_subscription
from kernel.consumer import Subscription
from services.tickets import SERVICE
from services.tickets.service.intake import marketplace_complaint, note_person_deceased


async def _person_deceased(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonDeceased)
    await note_person_deceased(session, event.person_id, envelope.occurred_at)


async def _complaint(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, ComplaintRaised)
    await marketplace_complaint(session, event, envelope.occurred_at)


SUBSCRIPTIONS: list[Subscription] = [
    area_replica_subscription(SERVICE),
    Subscription(name=f"{SERVICE}-person-deceased", subject=PersonDeceased.subject, handler=_person_deceased),
    Subscription(name=f"{SERVICE}-marketplace-complaints", subject=ComplaintRaised.subject, handler=_complaint),
]
