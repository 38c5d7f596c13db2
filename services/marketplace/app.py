"""The marketplace service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings
from services.marketplace import SERVICE
from services.marketplace.events import SUBSCRIPTIONS

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Marketplace",
    description="Seva-Mitra skilled workers enrolled through vendors, government-fixed rates and bookings.",
    subscriptions=SUBSCRIPTIONS,
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    return create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
