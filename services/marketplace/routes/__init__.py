"""Marketplace HTTP routes: parse, authorise, delegate to service functions."""

from services.marketplace.beckn.routes import router as beckn_router
from services.marketplace.routes import bookings, calls, catalog, reports, workers

# Bookings first: routes are matched in order, and POST /bookings (the hot path) was tried against
# every rate-card and worker route before its own. No two routers share a path prefix, so the order
# changes nothing else.
ROUTERS = [bookings.router, workers.router, catalog.router, calls.router, reports.router, beckn_router]

__all__ = ["ROUTERS"]
