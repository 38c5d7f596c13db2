"""The benefits service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings
from services.benefits import SERVICE
from services.benefits.events import SUBSCRIPTIONS

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Benefits",
    description="Schemes, the benefit ledger of every service a person received, and duplicate-benefit detection.",
    subscriptions=SUBSCRIPTIONS,
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    return create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
