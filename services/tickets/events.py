"""Events tickets consumes (its outgoing events are declared in ``contracts/tickets.py``).

* ``registry.area.*``: the area replica (names on desks, the hierarchy escalation follows).
* ``registry.person.deceased``: open tickets about the person get an internal note, so the desk
  does not keep calling a bereaved family about a ration card it can no longer change.
* Marketplace complaints: the subscription point is :func:`marketplace_complaint_subscription`.
  ``contracts/marketplace.py`` is not on main yet; once it declares a complaint event, add its
  subject here and map it with :func:`services.tickets.service.intake.complaint_ticket` (a ticket
  of category ``marketplace_complaint``, keyed by the complaint id so a redelivery adds nothing).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from contracts.registry import PersonDeceased
from kernel.area_replica import area_replica_subscription
from kernel.consumer import Subscription
from services.tickets import SERVICE
from services.tickets.service.intake import note_person_deceased


async def _person_deceased(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonDeceased)
    await note_person_deceased(session, event.person_id, envelope.occurred_at)


SUBSCRIPTIONS: list[Subscription] = [
    area_replica_subscription(SERVICE),
    Subscription(name=f"{SERVICE}-person-deceased", subject=PersonDeceased.subject, handler=_person_deceased),
]
