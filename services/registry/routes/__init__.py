"""Registry HTTP routes: parse, authorise, delegate to service functions."""

from services.registry.routes import duplicates, households, persons, queries, surveys
from services.registry.routes.areas import router
from services.registry.routes.dci import router as dci_router
from services.registry.routes.imports import router as imports_router
from services.registry.routes.rounds import router as rounds_router

ROUTERS = [router, queries.router, households.router, persons.router, surveys.router, duplicates.router]
ROUTERS.append(rounds_router)
ROUTERS.append(imports_router)
ROUTERS.append(dci_router)

__all__ = ["ROUTERS", "router"]
