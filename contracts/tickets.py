"""Events published by the tickets service.

Every event carries ``idempotency_key``: the same business fact always has the same key (a
ticket's creation, one escalation out of one level), so the notify service sends one SMS per
fact even if an event were delivered twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from contracts.base import Event


class TicketEvent(Event):
    ticket_id: uuid.UUID
    tracking_number: str = Field(description="Speakable, e.g. KX7D-M4RP")
    category: str
    area_code: str = Field(description="Where the reporter is")
    desk_id: uuid.UUID = Field(description="The desk that holds the ticket now")
    level: str = Field(description="block, district, state (or upazila, district, division)")
    status: str
    idempotency_key: str = Field(description="One per business fact; notify sends at most one message per key")


class TicketCreated(TicketEvent):
    """A ticket was raised and routed to a help desk.  Notify sends the tracking number by SMS to
    ``notify_phone`` in ``language``."""

    subject = "tickets.ticket.created.v1"
    priority: str
    language: str = Field(description="en, hi or bn")
    notify_phone: str | None = Field(description="E.164 number of the person on whose behalf it was raised")
    raised_by: str = Field(description="Who typed it in (a worker or e-volunteer user name)")
    concerns_person_id: uuid.UUID | None = None
    status_page: str = Field(description="Public status page path at the gateway")
    resolution_due_at: datetime | None


class TicketAssigned(TicketEvent):
    """A ticket was assigned (or reassigned) to an agent of its desk."""

    subject = "tickets.ticket.assigned.v1"
    assigned_to: str


class TicketEscalated(TicketEvent):
    """A ticket moved to the next level's desk: its SLA was breached, an agent escalated it by hand,
    or the reporter rated the resolution poor.  Notify texts the reporter (``notify_phone``, in
    ``language``) which level's desk has it now; the new desk sees it in its queue and stream."""

    subject = "tickets.ticket.escalated.v1"
    from_desk_id: uuid.UUID
    from_level: str
    cause: str = Field(description="first_response_breach, resolution_breach, manual or poor_rating")
    reason: str | None
    language: str
    notify_phone: str | None
    resolution_due_at: datetime | None
    # Additive (a default keeps earlier v1 events valid): the reporter's SMS names the desk in their language.
    level_name: str | None = Field(
        default=None, description="The new level's help desk in ``language``, e.g. ज़िला हेल्पडेस्क (District help desk)")


class TicketResolved(TicketEvent):
    """A ticket was resolved; the reporter may rate it (a poor rating reopens and escalates it)."""

    subject = "tickets.ticket.resolved.v1"
    language: str
    notify_phone: str | None
    resolution_seconds: float = Field(description="Wall-clock seconds from creation to resolution")


class TicketReopened(TicketEvent):
    """A resolved or closed ticket was reopened (by the reporter, or by a poor rating).  Notify texts
    the reporter (``text_phone``, in ``language``) unless the reopen also escalated the ticket."""

    subject = "tickets.ticket.reopened.v1"
    cause: str = Field(description="reopened or poor_rating")
    # Additive fields (defaults keep v1 events published before them valid): notify needs them to text.
    language: str | None = Field(default=None, description="en, hi or bn; None in events older than the field")
    notify_phone: str | None = Field(
        default=None, description="E.164 number of the person on whose behalf the ticket was raised")
    # Additive (defaults keep earlier v1 events valid): a poor rating that also escalates the ticket is one
    # event for the reporter, so one text — the escalation's, which names the desk that has it now.
    escalated: bool = Field(
        default=False, description="True when the same step escalated the ticket (a poor rating below the top "
                                   "level); tickets.ticket.escalated.v1 follows with cause poor_rating")
    text_phone: str | None = Field(
        default=None, description="Whom notify texts about this reopen: ``notify_phone``, or None when ``escalated`` "
                                  "(the escalation's text tells the reporter, who is texted once per rating)")
