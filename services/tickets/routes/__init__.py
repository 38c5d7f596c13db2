"""HTTP routes of the tickets service."""

from __future__ import annotations

from services.tickets.routes.desks import router as desks_router
from services.tickets.routes.live import router as live_router
from services.tickets.routes.tickets import router as tickets_router
from services.tickets.routes.tracking import router as tracking_router

# The ticket routes first: raising a ticket is the hot path, and FastAPI tries every route of each
# router before it on every request (the 20 desk, tracking and live routes were ~5% of POST /tickets'
# CPU, py-spy; docs/tickets.md).  Their parameters are UUIDs (``{ticket_id:uuid}``), so /desks,
# /calendars, /sla-policies and /track/{number} cannot be taken for a ticket.
ROUTERS = [tickets_router, desks_router, tracking_router, live_router]
