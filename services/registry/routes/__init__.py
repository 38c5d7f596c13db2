"""Registry HTTP routes: parse, authorise, delegate to service functions."""

from services.registry.routes import duplicates, households, persons, queries, surveys
from services.registry.routes.areas import router

ROUTERS = [router, queries.router, households.router, persons.router, surveys.router, duplicates.router]

__all__ = ["ROUTERS", "router"]
