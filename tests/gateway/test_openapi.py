"""The merged API description, and Schemathesis through the gateway with a valid key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.gateway.conftest import Stack


async def test_merged_document_has_every_service_prefixed(stack: Stack) -> None:
    async with stack.client() as http:
        doc = (await http.get("/openapi.json")).json()
        docs = await http.get("/docs")
    assert doc["openapi"].startswith("3.1")
    assert "/registry/areas/{code}" in doc["paths"] and "/oauth2/token" in doc["paths"]
    assert not any(p.endswith(("/healthz", "/readyz", "/metrics")) for p in doc["paths"])
    schemas = doc["components"]["schemas"]
    assert any(name.startswith("registry__") for name in schemas)
    refs = httpx.Response(200, json=doc).text
    assert '"#/components/schemas/AreaRead"' not in refs  # every upstream ref was renamed
    assert {"apiKey", "oauth2", "bearer"} <= doc["components"]["securitySchemes"].keys()
    get_area = doc["paths"]["/registry/areas/{code}"]["get"]
    assert get_area["tags"] == ["registry"] and "429" in get_area["responses"]
    assert "benefits" in doc.get("x-gramsetu-unavailable", [])  # a down upstream does not break the doc
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.filterwarnings("ignore")
async def test_schemathesis_through_the_gateway(stack: Stack) -> None:
    client = await stack.new_client(["registry:read", "registry:write"], ["IN-23"], rate_per_minute=100_000)
    async with stack.client() as http:
        raw = (await http.get("/openapi.json")).json()
    # The proxied services plus the public token endpoints; admin calls would only answer 403.
    raw["paths"] = {p: v for p, v in raw["paths"].items() if not p.startswith("/admin")}
    schema = schemathesis.openapi.from_dict(raw)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures, calls = await asyncio.to_thread(_fuzz, schema, stack.gateway_url, client["api_key"], checks)
    assert not failures, "\n".join(failures)
    assert calls >= 3 * len(raw["paths"]), calls  # the fuzzing really ran


def _fuzz(schema: Any, base_url: str, api_key: str, checks: list[Any]) -> tuple[list[str], int]:
    """Blocking (requests-based), so it runs in a thread while the servers run in the event loop."""
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=base_url, headers={"X-API-Key": api_key})
            case.validate_response(response, checks=checks)

        try:
            run()
        except Exception as exc:  # report every failing operation, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:400]}")
    return failures, calls


async def test_an_upstream_that_comes_up_late_joins_the_document_soon() -> None:
    """`gramsetu up` starts the gateway before the services: the merged doc must not stay partial."""
    import aiohttp
    from fastapi import FastAPI

    from gateway.openapi import MergedOpenAPI
    from gateway.proxy import required_scope
    from tests.gateway.conftest import Served

    late = FastAPI()

    @late.get("/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        return {"thing": thing}

    merged = MergedOpenAPI({"tickets": "http://127.0.0.1:9"}, FastAPI().openapi, {}, required_scope, 60.0)
    async with aiohttp.ClientSession() as session, Served(late) as upstream:
        first = await merged.document(session)
        assert first["x-gramsetu-unavailable"] == ["tickets"]
        merged.upstreams["tickets"] = upstream.url  # the service has started
        await asyncio.sleep(MergedOpenAPI.INCOMPLETE_CACHE_SECONDS + 0.1)
        second = await merged.document(session)
        assert "/tickets/things/{thing}" in second["paths"] and "x-gramsetu-unavailable" not in second
        assert await merged.document(session) is second  # a complete document is cached for the full TTL


def _json_body_has_example(doc: dict[str, Any], op: dict[str, Any]) -> bool:
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return True
    schema = content.get("schema", {})
    refs = [s["$ref"] for s in [schema, *schema.get("anyOf", [])] if "$ref" in s]  # an optional body is anyOf
    if refs:
        schema = doc["components"]["schemas"][refs[0].rsplit("/", 1)[1]]
    return bool(content.get("examples") or content.get("example") or schema.get("examples"))


async def test_the_gateways_own_operations_are_described_with_examples(stack: Stack) -> None:
    """A partner developer calls each of them from /docs alone: what it does, and a body to start from."""
    async with stack.client() as http:
        doc = (await http.get("/openapi.json")).json()
    own = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
           if "gateway" in op.get("tags", [])]
    assert len(own) >= 10
    undescribed = [f"{m.upper()} {p}" for p, m, op in own if len(op.get("description", "")) < 40]
    no_example = [f"{m.upper()} {p}" for p, m, op in own if not _json_body_has_example(doc, op)]
    assert not undescribed, undescribed
    assert not no_example, no_example


def test_beckn_paths_document_the_signature_not_a_gateway_key() -> None:
    """A buyer app signs each Beckn call itself; /docs showed it a key or a bearer token instead."""
    from gateway.openapi import SECURITY_SCHEMES, transform
    from gateway.proxy import required_scope

    op = {"summary": "x", "responses": {"200": {"description": "ack"}}}
    spec = {"paths": {"/beckn/search": {"post": dict(op)}, "/bookings": {"post": dict(op)}}}
    paths = transform("marketplace", spec, [], required_scope)["paths"]
    assert paths["/marketplace/beckn/search"]["post"]["security"] == [{"becknSignature": []}]
    assert {"apiKey": []} in paths["/marketplace/bookings"]["post"]["security"]
    assert SECURITY_SCHEMES["becknSignature"]["name"] == "Authorization"
