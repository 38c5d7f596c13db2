"""The registry service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings, get_settings
from services.registry import SERVICE
from services.registry.routes import ROUTERS
from services.registry.settings import get_registry_settings

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Registry",
    description=(
        "Households, persons, identifiers, administrative areas and surveys. Person reads need an X-Purpose "
        "header and are audited; national identifiers are always masked."
    ),
    routers=ROUTERS,
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    # Refuse to start in production with the development keys protecting national identifiers.
    get_registry_settings().check_production((settings or get_settings()).environment)
    return create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
