"""Tickets: Help-desk tickets with SLA escalation from block to district to state."""

SERVICE = "tickets"
