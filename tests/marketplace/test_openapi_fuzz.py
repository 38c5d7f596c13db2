"""Schemathesis through the real gateway: every marketplace operation, fuzzed as a partner client
with the marketplace's scopes, never answers a 5xx nor breaks its own OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from gateway.cli import provision_client
from kernel.settings import Settings
from tests.conftest import _delete_streams, _truncate_all
from tests.gateway.conftest import Served, gateway_config
from tests.marketplace.conftest import rate_card


@pytest.fixture
async def gateway_url(database_url: str, nats_url: str, settings: Settings) -> AsyncIterator[str]:
    from gateway.app import create_app as create_gateway
    from services.marketplace.app import create_app

    await _truncate_all(database_url)
    await _delete_streams(nats_url)
    async with Served(create_app(settings, workers=False)) as marketplace:
        async with httpx.AsyncClient(base_url=marketplace.url) as direct:
            await rate_card(direct)
        app = create_gateway(settings, config=gateway_config(), upstreams={"marketplace": marketplace.url})
        async with Served(app) as gw:
            yield gw.url


@pytest.mark.filterwarnings("ignore")
async def test_schemathesis_through_the_gateway(gateway_url: str, settings: Settings) -> None:
    issued = await provision_client("mp-fuzz", ["marketplace:read", "marketplace:write", "marketplace:admin"], ["IN"],
                                    settings=settings, rate_per_minute=1_000_000)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        raw = (await http.get("/openapi.json")).json()
    raw["paths"] = {p: v for p, v in raw["paths"].items() if p.startswith("/marketplace/")}
    assert len(raw["paths"]) >= 30, sorted(raw["paths"])
    schema = schemathesis.openapi.from_dict(raw)
    failures, calls, statuses = await asyncio.to_thread(_fuzz, schema, gateway_url, issued.api_key)
    assert not failures, "\n".join(failures)
    assert calls >= 2 * len(raw["paths"]), calls
    assert sum(200 <= s < 300 for s in statuses) >= 10 and 401 in statuses  # some real work; Beckn signatures
    assert not any(s >= 500 for s in statuses)


def _fuzz(schema: Any, base_url: str, api_key: str) -> tuple[list[str], int, list[int]]:
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    failures: list[str] = []
    statuses: list[int] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=3, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=base_url, headers={"X-API-Key": api_key})
            statuses.append(response.status_code)
            case.validate_response(response, checks=checks)

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    return failures, calls, statuses
