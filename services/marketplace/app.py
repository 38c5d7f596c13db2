"""The marketplace service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings, get_settings
from services.marketplace import SERVICE
from services.marketplace.events import SUBSCRIPTIONS
from services.marketplace.jobs import JOBS
from services.marketplace.routes import ROUTERS
from services.marketplace.service.reports import GAUGE_JOB
from services.marketplace.settings import get_marketplace_settings

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Marketplace",
    description=(
        "Seva-Mitra skilled workers enrolled through vendors, government-fixed rates, nearest-worker bookings "
        "from apps, the call centre and department offices, and a Beckn BPP for open networks."
    ),
    routers=ROUTERS,
    subscriptions=SUBSCRIPTIONS,
    jobs=dict(JOBS),
    recurring=[(GAUGE_JOB, "all")],  # the adoption gauges, from start-up on
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    get_marketplace_settings().check_production((settings or get_settings()).environment)
    return create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
