"""The tickets service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings
from services.tickets import SERVICE
from services.tickets.events import SUBSCRIPTIONS

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Tickets",
    description="Help-desk tickets with SLA escalation from block to district to state.",
    subscriptions=SUBSCRIPTIONS,
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    return create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
