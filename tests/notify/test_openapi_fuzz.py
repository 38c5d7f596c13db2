"""Schemathesis over notify's operations, through the real gateway (API key, scopes, rate limits)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.cli import provision_client
from kernel.settings import Settings
from services.notify.demo import schedule_document, template_documents
from tests.gateway.conftest import Served, gateway_config
from tests.gateway.test_openapi import _fuzz
from tests.notify.conftest import Notify


@pytest.mark.filterwarnings("ignore")
async def test_schemathesis_through_the_gateway(notify: Notify, settings: Settings) -> None:
    from gateway.app import create_app as create_gateway

    await notify.client.post("/schedules", headers=notify.headers, json=schedule_document())
    for doc in template_documents():
        await notify.client.post("/templates", headers=notify.headers, json=doc)
    dead = "http://127.0.0.1:9"
    app = create_gateway(settings, config=gateway_config(), upstreams={
        "notify": notify.url, "registry": dead, "benefits": dead, "tickets": dead, "marketplace": dead})
    async with Served(app) as gateway:
        issued = await provision_client(f"fuzz-{uuid.uuid4().hex[:8]}", ["*"], ["IN", "BD"], settings=settings,
                                        rate_per_minute=100_000)
        import httpx

        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            raw = (await http.get("/openapi.json")).json()
        raw["paths"] = {p: v for p, v in raw["paths"].items() if p.startswith("/notify/")}
        assert len(raw["paths"]) >= 12, sorted(raw["paths"])
        schema = schemathesis.openapi.from_dict(raw)
        checks = [not_a_server_error, status_code_conformance, content_type_conformance,
                  response_schema_conformance]
        failures, calls = await asyncio.to_thread(_fuzz, schema, gateway.url, issued.api_key, checks)
    assert not failures, "\n".join(failures)
    assert calls >= 3 * len(raw["paths"]), calls
