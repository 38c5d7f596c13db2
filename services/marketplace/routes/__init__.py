"""Marketplace HTTP routes: parse, authorise, delegate to service functions."""

from services.marketplace.routes import bookings, catalog, workers

ROUTERS = [catalog.router, workers.router, bookings.router]

__all__ = ["ROUTERS"]
