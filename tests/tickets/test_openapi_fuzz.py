"""Schemathesis through the real gateway against the tickets service, as a help-desk client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

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
from kernel.settings import Settings
from tests.conftest import _delete_streams, _truncate_all
from tests.gateway.conftest import Served, gateway_config
from tests.gateway.test_openapi import _fuzz
from tests.tickets.conftest import BLOCK, DISTRICT, STATE, VILLAGE


@pytest.fixture
async def gateway_url(database_url: str, nats_url: str, settings: Settings) -> AsyncIterator[str]:
    from gateway.app import create_app as create_gateway
    from services.tickets.app import create_app

    await _truncate_all(database_url)
    await _delete_streams(nats_url)
    async with Served(create_app(settings, workers=False)) as tickets:
        app = create_gateway(settings, config=gateway_config(), upstreams={
            "tickets": tickets.url, "registry": "http://127.0.0.1:9", "benefits": "http://127.0.0.1:9",
            "notify": "http://127.0.0.1:9", "marketplace": "http://127.0.0.1:9"})
        async with Served(app) as gw:
            yield gw.url


async def _seed(http: httpx.AsyncClient) -> None:
    r = await http.post("/tickets/calendars", json={"name": "MP"})
    assert r.status_code == 201, r.text
    for area in (STATE, DISTRICT, BLOCK):
        d = await http.post("/tickets/desks", json={"name": f"desk {area}", "area_code": area,
                                                    "calendar_id": r.json()["id"]})
        assert d.status_code == 201, d.text
    t = await http.post("/tickets", json={"category": "app_problem", "title": "Tablet", "description": "x",
                                          "area_code": VILLAGE, "reporter": {"name": "Sunita"}})
    assert t.status_code == 201, t.text
    page = await http.get(f"/tickets/track/{t.json()['tracking_number']}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


@pytest.mark.slow  # about a minute: every operation, a dozen cases each, through two real servers
@pytest.mark.filterwarnings("ignore")
async def test_schemathesis_through_the_gateway(gateway_url: str, settings: Settings) -> None:
    issued = await provision_client("t-tickets-fuzz", ["tickets:*"], [STATE], settings=settings,
                                    rate_per_minute=100_000)
    async with httpx.AsyncClient(base_url=gateway_url, headers={"X-API-Key": issued.api_key}, timeout=30) as http:
        await _seed(http)
        raw = (await http.get("/openapi.json")).json()
    # Only this service's operations; the live streams never end, so they are tested in test_live_and_status_page.
    raw["paths"] = {p: v for p, v in raw["paths"].items() if p.startswith("/tickets") and not p.endswith("/stream")}
    schema = schemathesis.openapi.from_dict(raw)
    checks: list[Any] = [not_a_server_error, status_code_conformance, content_type_conformance,
                         response_schema_conformance]
    failures, calls = await asyncio.to_thread(_fuzz, schema, gateway_url, issued.api_key, checks)
    assert not failures, "\n".join(failures)
    assert calls >= 3 * len(raw["paths"]), calls
