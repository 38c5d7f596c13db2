"""Rate limits (also across replicas), timeouts, streaming pass-through, forwarded headers, metrics."""

from __future__ import annotations

import asyncio
import json
import time

from gateway.app import create_app
from kernel.auth import verify_identity
from tests.gateway.conftest import Served, Stack, gateway_config


async def test_rate_limit_answers_429_with_headers(stack: Stack) -> None:  # API4
    client = await stack.new_client(["registry:read"], rate_per_minute=60)  # burst of 10
    async with stack.client(**{"X-API-Key": client["api_key"]}) as http:
        responses = [await http.get("/registry/areas/IN-23") for _ in range(12)]
    codes = [r.status_code for r in responses]
    assert codes[:10] == [200] * 10 and codes[-1] == 429, codes
    refused = responses[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-limit"] == "10" and refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["ratelimit-reset"]) >= 1


async def test_sms_sends_have_a_tighter_bucket(stack: Stack) -> None:  # API6: costly business flow
    client = await stack.new_client(["notify:send", "notify:read"])
    sms = next(rc for rc in stack.config.route_classes if rc.name == "sms")
    async with stack.client(**{"X-API-Key": client["api_key"]}) as http:
        codes = [(await http.post("/notify/messages", json={})).status_code for _ in range(int(sms.limit.capacity) + 1)]
        assert 429 not in codes[:-1] and codes[-1] == 429, codes  # notify is not running: 502s until the limit
        r = await http.post("/notify/messages", json={})
        assert r.json()["route_class"] == "sms"


async def test_limit_holds_across_two_replicas(stack: Stack) -> None:
    """Two gateways share the bucket in PostgreSQL: together they admit about one bucket's worth."""
    client = await stack.new_client(["registry:read"], rate_per_minute=60)  # burst of 10, 1/s refill
    second = create_app(stack.settings, config=gateway_config(), upstreams={"registry": stack.registry_url})
    async with Served(second) as replica:
        started = time.monotonic()
        admitted = 0
        headers = {"X-API-Key": client["api_key"]}
        async with stack.client(**headers) as a, stack.client(**headers) as b:
            b.base_url = replica.url  # type: ignore[assignment]
            for i in range(30):
                r = await (a if i % 2 else b).get("/registry/areas/IN-23")
                admitted += r.status_code == 200
        elapsed = time.monotonic() - started
    lease = 1  # ceil(10 * lease_fraction)
    assert 10 <= admitted <= 10 + int(elapsed * 1.0) + 1 + 2 * lease, (admitted, elapsed)


async def test_slow_upstream_is_cut_by_the_route_timeout(stack: Stack) -> None:
    client = await stack.new_client(["marketplace:read"])
    async with stack.client(**{"X-API-Key": client["api_key"]}) as http:
        started = time.monotonic()
        r = await http.get("/marketplace/slow")
    assert r.status_code == 504
    assert time.monotonic() - started < 2.5


async def test_server_sent_events_stream_through(stack: Stack) -> None:
    client = await stack.new_client(["tickets:read"])
    arrivals: list[float] = []
    async with stack.client(**{"X-API-Key": client["api_key"]}) as http:
        async with http.stream("GET", "/tickets/events", headers={"Accept": "text/event-stream"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    arrivals.append(time.monotonic())
    assert len(arrivals) == 3
    assert arrivals[-1] - arrivals[0] > 0.4  # each event arrived as sent, not buffered to the end


async def test_upstream_gets_the_gateways_identity_and_request_id(stack: Stack) -> None:
    client = await stack.new_client(["tickets:read"], ["IN-23"])
    headers = {"X-API-Key": client["api_key"], "X-Forwarded-For": "6.6.6.6", "X-Request-ID": "req-abc"}
    async with stack.client(**headers) as http:
        seen = (await http.get("/tickets/echo-headers")).json()
    identity = verify_identity(seen["x-gramsetu-identity"], seen["x-gramsetu-identity-signature"],
                               stack.settings.identity_secret)
    assert identity.subject == client["client_id"] and identity.area_scope == ["IN-23"]
    assert identity.scopes == ["tickets:read"] and identity.kind == "client"
    assert seen["x-request-id"] == "req-abc"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert "x-api-key" not in seen and "authorization" not in seen


async def test_request_id_is_minted_and_metrics_are_labelled_by_template(stack: Stack) -> None:
    client = await stack.new_client(["registry:read"])
    async with stack.client(**{"X-API-Key": client["api_key"]}) as http:
        await http.get("/openapi.json")  # route templates come from the merged description
        r = await http.get("/registry/areas/IN-23")
        assert len(r.headers["x-request-id"]) == 32
        await http.get("/registry/areas/IN-23-0457")
        metrics = (await http.get("/metrics")).text
    assert 'route="/registry/areas/{code}"' in metrics
    assert "IN-23-0457" not in metrics  # no IDs in labels
    assert "gramsetu_gateway_auth_failures_total" in metrics
    assert "gramsetu_gateway_upstream_duration_seconds" in metrics


async def test_access_log_is_json_with_request_fields(stack: Stack, caplog) -> None:  # type: ignore[no-untyped-def]
    client = await stack.new_client(["registry:read"])
    with caplog.at_level("INFO", logger="gramsetu.gateway.access"):
        async with stack.client(**{"X-API-Key": client["api_key"], "X-Request-ID": "log-me"}) as http:
            await http.get("/registry/areas/IN-23")
        await asyncio.sleep(0.05)
    records = [r for r in caplog.records if r.name == "gramsetu.gateway.access" and r.__dict__.get("status")]
    assert records, "no access log record"
    from kernel.logging import JsonFormatter

    doc = json.loads(JsonFormatter("gateway").format(records[-1]))
    assert doc["request_id"] == "log-me" and doc["status"] == 200 and doc["route"].startswith("/registry/")
    assert {"method", "route", "status", "client", "latency_ms"} <= doc.keys()
