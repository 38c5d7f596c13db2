"""Schemathesis against benefits through the real gateway: both as uvicorn servers on real sockets, the
merged OpenAPI document's /benefits operations, an API key with every benefits permission.

Any generated request must answer with a documented status, content type and body (the gateway's own
answers included), never a 5xx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.cli import provision_client
from kernel.scheduler import ManualClock
from kernel.settings import Settings
from tests.benefits.conftest import OAA, VGF, WIDOW
from tests.gateway.conftest import Served, gateway_config
from tests.gateway.test_openapi import _fuzz


@pytest.fixture
async def through_gateway(clean: None, settings: Settings, clock: ManualClock
                          ) -> AsyncIterator[tuple[str, str]]:
    from gateway.app import create_app as create_gateway
    from services.benefits.app import create_app as create_benefits

    async with Served(create_benefits(settings, clock=clock)) as benefits:
        dead = "http://127.0.0.1:9"
        app = create_gateway(settings, config=gateway_config(), upstreams={
            "benefits": benefits.url, "registry": dead, "tickets": dead, "notify": dead, "marketplace": dead})
        async with Served(app) as gateway:
            issued = await provision_client("benefits-fuzz", ["benefits:*"], ["BD", "IN"], settings=settings,
                                            rate_per_minute=100_000)
            yield gateway.url, issued.api_key


@pytest.mark.filterwarnings("ignore")
async def test_schemathesis_through_the_gateway_finds_no_server_errors(through_gateway: tuple[str, str]) -> None:
    url, key = through_gateway
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=30) as http:
        for dept in ("BD-DSS", "BD-DRR"):
            r = await http.post("/benefits/departments", json={"code": dept, "country": "BD", "names": {"en": dept},
                                                               "posters": ["benefits-fuzz"]})
            assert r.status_code == 201, r.text
        for scheme in (OAA, WIDOW, VGF):
            assert (await http.post("/benefits/schemes", json=scheme)).status_code == 201
        raw = (await http.get("/openapi.json")).json()
    raw["paths"] = {p: v for p, v in raw["paths"].items() if p.startswith("/benefits/")}
    assert len(raw["paths"]) >= 30, sorted(raw["paths"])
    schema = schemathesis.openapi.from_dict(raw)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures, calls = await asyncio.to_thread(_fuzz, schema, url, key, checks)
    assert not failures, "\n".join(failures)
    assert calls >= 3 * len(raw["paths"]), calls
