"""Schemathesis against the benefits service's OpenAPI document, in-process (ASGI), as an admin.

Any generated request must answer with a documented status and content type and never a 5xx."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis

from tests.benefits.conftest import admin
from tests.registry.test_openapi_fuzz import _fuzz


@pytest.mark.filterwarnings("ignore")
async def test_schemathesis_finds_no_server_errors(catalogue: httpx.AsyncClient) -> None:
    raw = (await catalogue.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(raw)
    loop = asyncio.get_running_loop()
    statuses: list[int] = []

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        # Fresh identity headers per call: the signed context lives 60 s and a fuzz run takes longer.
        kwargs["headers"] = {**(kwargs.get("headers") or {}), **admin()}
        response = asyncio.run_coroutine_threadsafe(catalogue.request(**kwargs), loop).result(timeout=60)
        statuses.append(response.status_code)
        return response

    failures, calls = await asyncio.to_thread(_fuzz, schema, send, admin())
    assert not failures, "\n".join(failures)
    assert calls >= 2 * len(raw["paths"]), calls
    assert 401 not in statuses and sum(200 <= s < 300 for s in statuses) >= 10, sorted(set(statuses))
