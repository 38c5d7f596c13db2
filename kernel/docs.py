"""``/docs`` served without the internet: Swagger UI's assets come from the installed
``fastapi-offline`` package (which bundles Swagger UI 5 and ReDoc), not from a CDN, so the page
works in a government data centre with no way out.

Every GramSetu app (the services through :func:`kernel.app.create_service_app`, the gateway for
the merged document) calls :func:`install_offline_docs`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PATH = "/docs-assets"


def install_offline_docs(app: FastAPI, *, title: str, openapi_url: str = "/openapi.json",
                         docs_url: str = "/docs") -> None:
    """Serve Swagger UI at ``docs_url`` for the document at ``openapi_url``, assets included."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — API docs",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters={"displayRequestDuration": True, "tryItOutEnabled": True,
                                   "persistAuthorization": True},
        )


def openapi_digest(document: dict[str, Any]) -> str:
    """A fingerprint of an OpenAPI document: a service's /readyz reports it, and the gateway
    rebuilds its merged document when a service's fingerprint changes (a new version rolled out)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
