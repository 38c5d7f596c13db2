"""HTTP routes of the tickets service."""

from __future__ import annotations

from services.tickets.routes.desks import router as desks_router
from services.tickets.routes.live import router as live_router
from services.tickets.routes.tickets import router as tickets_router
from services.tickets.routes.tracking import router as tracking_router

# Literal paths (/desks, /calendars, /track) before the ticket routes at the root (/{ticket_id}).
ROUTERS = [desks_router, tracking_router, live_router, tickets_router]
