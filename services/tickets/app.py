"""The tickets service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings, get_settings
from services.tickets import SERVICE
from services.tickets.events import SUBSCRIPTIONS
from services.tickets.jobs import JOBS
from services.tickets.routes import ROUTERS
from services.tickets.settings import get_tickets_settings

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Tickets",
    description=(
        "Help desks per area and level; tickets routed on creation, tracked by a speakable number, escalated "
        "block → district → state when an SLA in business time is breached, by hand, or on a poor rating. "
        "Live streams per ticket and desk; a public status page by tracking number."
    ),
    routers=ROUTERS,
    subscriptions=SUBSCRIPTIONS,
    jobs=dict(JOBS),
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    get_tickets_settings().check_production((settings or get_settings()).environment)
    app = create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
    return app
