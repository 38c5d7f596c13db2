"""The notify service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings
from services.notify import SERVICE
from services.notify.events import SUBSCRIPTIONS

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Notify",
    description="SMS and voice alerts in Hindi and Bengali through Twilio: templates, due lists and campaigns.",
    subscriptions=SUBSCRIPTIONS,
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    return create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
