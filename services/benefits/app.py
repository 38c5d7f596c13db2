"""The benefits service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings, get_settings
from services.benefits import SERVICE
from services.benefits.events import SUBSCRIPTIONS
from services.benefits.jobs import JOBS, PERIODIC
from services.benefits.routes import ROUTERS
from services.benefits.settings import get_benefits_settings

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Benefits",
    description=(
        "The scheme catalogue with versioned rules, a hash-chained ledger of every benefit given, double-dipping "
        "detection across linked and merged registry records, coverage gaps and transparency reports."
    ),
    routers=ROUTERS,
    subscriptions=SUBSCRIPTIONS,
    jobs=JOBS,
    recurring=PERIODIC,
)


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    get_benefits_settings().check_production((settings or get_settings()).environment)
    return create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
