"""Tickets tables (schema ``tickets``): desks, calendars, SLA policies, tickets, their clocks and timeline."""

from __future__ import annotations

from services.tickets.models.common import AREA, KERNEL, METADATA, SCHEMA
from services.tickets.models.desks import agent, calendar, desk, holiday, sla_policy, sla_policy_version
from services.tickets.models.tickets import (
    escalation,
    open_count,
    open_delta,
    routing_generation,
    ticket,
    ticket_sla,
    timeline,
)

__all__ = [
    "AREA",
    "KERNEL",
    "METADATA",
    "SCHEMA",
    "agent",
    "calendar",
    "desk",
    "escalation",
    "holiday",
    "open_count",
    "open_delta",
    "routing_generation",
    "sla_policy",
    "sla_policy_version",
    "ticket",
    "ticket_sla",
    "timeline",
]
