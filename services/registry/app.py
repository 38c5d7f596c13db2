"""The registry service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings
from services.registry import SERVICE
from services.registry.routes import router

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Registry",
    description="Households, persons, identifiers, administrative areas and surveys.",
    routers=[router],
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    return create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
