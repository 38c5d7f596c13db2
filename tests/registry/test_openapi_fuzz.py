"""Schemathesis against the registry's own OpenAPI document, in-process (ASGI), as an admin."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from kernel.auth import Identity, sign_identity
from kernel.settings import get_settings
from tests.registry.conftest import PURPOSE

TRANSPORT_KEYS = {"method", "url", "headers", "params", "json", "data", "content", "cookies"}


@pytest.mark.filterwarnings("ignore")
async def test_schemathesis_finds_no_server_errors(client: httpx.AsyncClient) -> None:
    # Signed for the whole run: on a loaded machine the fuzz outlasts the 60 s identity TTL.
    admin_headers = sign_identity(Identity(subject="test-user", kind="user", roles=["admin"], scopes=["*"],
                                           area_scope=["IN", "BD"]), get_settings().identity_secret,
                                  ttl_seconds=1800)
    raw = (await client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(raw)
    loop = asyncio.get_running_loop()
    statuses: list[int] = []

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        # The app runs in this test's event loop; the fuzzer (blocking) runs in a thread.
        response = asyncio.run_coroutine_threadsafe(client.request(**kwargs), loop).result(timeout=30)
        statuses.append(response.status_code)
        return response

    failures, calls = await asyncio.to_thread(_fuzz, schema, send, admin_headers | PURPOSE)
    assert not failures, "\n".join(failures)
    assert calls >= 2 * len(raw["paths"]), calls
    assert 401 not in statuses and sum(200 <= s < 300 for s in statuses) >= 10, sorted(set(statuses))


def _fuzz(schema: Any, send: Any, headers: dict[str, str]) -> tuple[list[str], int]:
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            kwargs = case.as_transport_kwargs(base_url="http://test", headers=headers)
            response = send({k: v for k, v in kwargs.items() if k in TRANSPORT_KEYS})
            case.validate_response(response, checks=checks)

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    return failures, calls
