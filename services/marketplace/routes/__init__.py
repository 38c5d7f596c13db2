"""Marketplace HTTP routes: parse, authorise, delegate to service functions."""

from services.marketplace.beckn.routes import router as beckn_router
from services.marketplace.routes import bookings, calls, catalog, reports, workers

ROUTERS = [catalog.router, workers.router, bookings.router, calls.router, reports.router, beckn_router]

__all__ = ["ROUTERS"]
