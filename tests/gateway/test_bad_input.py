"""Bad input through the gateway is a 4xx problem that says why, never a 500 (nor a 502 after it)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.validation import UNSTORABLE_REASON, unstorable_fields
from tests.gateway.conftest import Stack

AREA = "IN-23-0456"
ROOT = Path(__file__).resolve().parents[2]


async def _admin(stack: Stack) -> httpx.AsyncClient:
    issued = await stack.new_client(["*"], rate_per_minute=100_000)
    return stack.client(**{"X-API-Key": issued["api_key"]})


# FastAPI parses a body sent with no Content-Type as JSON too, so the guards must cover that case.
JSON_TYPES = [{"content-type": "application/json"}, {}]


@pytest.mark.parametrize("sent_as", JSON_TYPES, ids=["json", "no-content-type"])
@pytest.mark.parametrize("bad", ["\u0000", "\ud800", "\udfff"])
async def test_characters_postgresql_cannot_store_are_a_422_naming_the_field(stack: Stack, bad: str,
                                                                              sent_as: dict[str, str]) -> None:
    async with await _admin(stack) as http:
        body = {"area_code": AREA, "address": f"House 12{bad}",
                "members": [{"full_name": f"Rahima{bad}", "sex": "female", "role": "head"}]}
        # json.dumps escapes the lone surrogate as \\ud800, exactly what a JSON client sends
        r = await http.post("/registry/households", content=json.dumps(body), headers=sent_as)
        assert r.status_code == 422, r.text
        problem = r.json()
        fields = {e["field"] for e in problem["errors"]}
        assert fields == {"body.address", "body.members.0.full_name"}
        assert problem["request_id"] == r.headers["x-request-id"]
        for _ in range(8):  # the next requests are answered normally (the 500 used to break the connection)
            ok = await http.post("/registry/households", json={"area_code": AREA, "address": "House 13"})
            assert ok.status_code == 201, ok.text


async def test_nul_in_a_query_parameter_is_a_422(stack: Stack) -> None:
    async with await _admin(stack) as http:
        r = await http.get("/registry/areas", params={"parent": "IN-23\u0000"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "query.parent"


async def test_deeply_nested_json_is_a_400_that_says_so(stack: Stack) -> None:
    async with await _admin(stack) as http:
        for path in ("/registry/households", "/registry/sync/batches"):
            for body in (b"[" * 5000, b'{"a":' * 100 + b"1" + b"}" * 100):
                for sent_as in JSON_TYPES:
                    r = await http.post(path, content=body, headers=sent_as)
                    assert r.status_code == 400, (path, sent_as, r.text)
                    assert "nest" in _reason(path, r.json()), (path, r.text)
        for path in ("/registry/sync/search", "/registry/search"):  # DCI: JSON only (no type is a 415)
            for body in (b"[" * 5000, b'{"a":' * 100 + b"1" + b"}" * 100):
                r = await http.post(path, content=body, headers={"content-type": "application/json"})
                assert r.status_code == 400, (path, r.text)
                assert "nest" in _reason(path, r.json()), (path, r.text)


def _reason(path: str, body: dict[str, Any]) -> str:
    """DCI endpoints answer the DCI error ack (docs/dci.md); the rest of the API a problem."""
    if path in ("/registry/sync/search", "/registry/search"):
        assert body["message"]["ack_status"] == "ERR" and body["message"]["error"]["code"] == "err.request.bad"
        return str(body["message"]["error"]["message"])
    return str(body["detail"])


async def test_a_json_body_over_the_limit_is_refused_with_the_limit(stack: Stack) -> None:
    big = json.dumps({"area_code": AREA, "address": "x" * (stack.settings.max_json_body_bytes + 10)})
    async with httpx.AsyncClient(base_url=stack.registry_url) as http:  # the service's own limit
        r = await http.post("/households", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert str(stack.settings.max_json_body_bytes) in r.json()["detail"]


async def test_a_body_that_is_not_json_where_json_is_required_is_a_415(stack: Stack) -> None:
    async with await _admin(stack) as http:
        r = await http.post("/registry/households", content=b"area_code=IN-23",
                            headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 415, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "application/json" in r.json()["detail"]
        malformed = await http.post("/registry/households", content=b"{not json",
                                    headers={"content-type": "application/json"})
        assert malformed.status_code in (400, 422), malformed.text


async def test_a_non_ascii_identity_signature_is_a_401(stack: Stack) -> None:
    headers = {"x-gramsetu-identity": "e30", "x-gramsetu-identity-signature": "sïgnature"}
    async with httpx.AsyncClient(base_url=stack.registry_url) as http:
        r = await http.get("/areas", headers={k.encode(): v.encode() for k, v in headers.items()})
    assert r.status_code == 401, r.text


async def test_an_unexpected_error_is_a_500_problem_and_the_next_call_through_the_gateway_works(
        stack: Stack, tmp_path: Path) -> None:
    """A service's unhandled error used to close its keep-alive connection after the 500; the
    gateway's next POST on that pooled connection then often failed with 502 (5 of 8 under `make run`)."""
    from gateway.app import create_app as create_gateway
    from gramsetu.embedded import free_port, port_open
    from tests.gateway.conftest import Served, gateway_config

    port = free_port()
    env = {**os.environ, "GRAMSETU_DATABASE_URL": stack.settings.database_url or "",
           "GRAMSETU_NATS_URL": stack.settings.nats_url or "", "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "boom.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "tests.gateway.boom_app:create_app",
                               "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if port_open("127.0.0.1", port, 0.1):
                break
            await asyncio.sleep(0.1)
        issued = await stack.new_client(["*"], rate_per_minute=100_000)
        gateway = create_gateway(stack.settings, config=gateway_config(max_retries=0),
                                 upstreams={"tickets": f"http://127.0.0.1:{port}"})
        async with Served(gateway) as gw, httpx.AsyncClient(
                base_url=gw.url, headers={"X-API-Key": issued["api_key"]}, timeout=30) as http:
            statuses = []
            for attempt in range(8):
                r = await http.post("/tickets/boom", headers={"x-request-id": f"req-boom-{attempt}"})
                assert r.status_code == 500, r.text
                problem = r.json()
                assert problem["request_id"] == f"req-boom-{attempt}" and "Traceback" not in r.text
                assert problem["instance"] == "/tickets/boom"  # the public path, not the service's own
                statuses.append((await http.post("/tickets/fine")).status_code)
            assert statuses == [201] * 8, statuses
    finally:
        server.terminate()
        server.wait(10)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=4)))
def test_unstorable_fields_finds_exactly_the_strings_postgresql_refuses(value: object) -> None:
    found = {field for field, _ in unstorable_fields(value, "body")}
    expected = set()

    def walk(node: object, path: str) -> None:
        if isinstance(node, str):
            try:
                node.encode("utf-8")
                ok = "\x00" not in node
            except UnicodeEncodeError:
                ok = False
            if not ok:
                expected.add(path)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}.{i}")
        elif isinstance(node, dict):
            for key, item in node.items():
                walk(key, f"{path}.{key}")  # a bad key is as unstorable (jsonb) as a bad value
                walk(item, f"{path}.{key}")

    walk(value, "body")
    assert found == expected
    assert all(reason == UNSTORABLE_REASON for _, reason in unstorable_fields(value, "body"))
