"""The registry service application."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings, get_settings
from services.registry import SERVICE
from services.registry.routes import ROUTERS
from services.registry.routes.dci import dci_problem_renderer
from services.registry.service import imports_pool
from services.registry.service.dci_jobs import JOBS as DCI_JOBS
from services.registry.service.dci_jobs import SUBSCRIPTIONS as DCI_SUBSCRIPTIONS
from services.registry.service.imports_index import JOBS as IMPORT_INDEX_JOBS
from services.registry.service.matching.feedback import JOBS as MATCH_FEEDBACK_JOBS
from services.registry.service.rounds import JOBS as ROUND_JOBS
from services.registry.settings import get_registry_settings
from services.registry.settings_dci import get_dci_settings

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Registry",
    description=(
        "Households, persons, identifiers, administrative areas and surveys. Person reads need an X-Purpose "
        "header and are audited; national identifiers are always masked."
    ),
    routers=ROUTERS,
)
SPEC.jobs.update(ROUND_JOBS)
SPEC.jobs.update(DCI_JOBS)
SPEC.jobs.update(IMPORT_INDEX_JOBS)
SPEC.jobs.update(MATCH_FEEDBACK_JOBS)
SPEC.subscriptions.extend(DCI_SUBSCRIPTIONS)
SPEC.on_stop.append(imports_pool.shutdown)  # the bulk import's validating processes


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    # Refuse to start in production with the development keys protecting national identifiers.
    get_registry_settings().check_production((settings or get_settings()).environment)
    get_dci_settings().check_production((settings or get_settings()).environment)
    app = create_service_app(SPEC, settings, **kwargs)  # type: ignore[arg-type]
    app.state.problem_renderer = dci_problem_renderer  # DCI paths answer the DCI error ack, even for guards
    return app
