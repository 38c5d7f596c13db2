"""Every operation of every service is reachable through the gateway, at the path the merged
OpenAPI document gives it, and reaches that service (not another one, not a 404 from routing).

The walk reads each service's own OpenAPI, so a route a service adds is covered without a change
here.  A routing 404 (``route-not-found``: no operation at that path) is told apart from a 404 for
a missing record (``not-found``), which is a perfectly routed answer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import GatewayConfig
from gateway.openapi import HIDDEN_UPSTREAM_PATHS, mount_path
from gateway.proxy import Router
from kernel.settings import SERVICES, Settings
from tests.conftest import _delete_streams, _truncate_all
from tests.gateway.conftest import Served, gateway_config

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str  # the service's own path template
    spec: dict[str, Any]


def service_app(name: str, settings: Settings) -> Any:
    import importlib

    return importlib.import_module(f"services.{name}.app").create_app(settings, workers=False)


def operations(name: str, doc: dict[str, Any]) -> list[Operation]:
    """The operations the gateway exposes (what the merged document includes)."""
    out = []
    for path, item in doc["paths"].items():
        if path in HIDDEN_UPSTREAM_PATHS:
            continue
        for method, op in item.items():
            if method in HTTP_METHODS and "ops" not in (op.get("tags") or []):
                out.append(Operation(name, method.upper(), path, op))
    return out


def all_operations(settings: Settings) -> list[Operation]:
    return [op for name in SERVICES for op in operations(name, service_app(name, settings).openapi())]


def test_every_operation_maps_to_one_gateway_path_that_routes_back_to_it(settings: Settings) -> None:
    """Pure routing, no servers: the mount path of each operation resolves to the same service and path."""
    config = GatewayConfig()
    router = Router(config)
    ops = all_operations(settings)
    assert {op.service for op in ops} >= {"registry"}
    public: dict[tuple[str, str], Operation] = {}
    for op in ops:
        gateway_path = mount_path(op.service, op.path, config.verbatim_paths.get(op.service, []))
        assert router.resolve(gateway_path) == (op.service, op.path), f"{op.method} {gateway_path}"
        assert not gateway_path.startswith(f"/{op.service}/{op.service}/"), (
            f"{op.service} serves {op.path} under its own name: add it to GatewayConfig.verbatim_paths")
        clash = public.setdefault((op.method, gateway_path), op)
        assert clash is op, f"{op.method} {gateway_path} is both {clash.service} and {op.service}"
    for service, paths in config.verbatim_paths.items():
        served = {op.path for op in ops if op.service == service}
        assert set(paths) <= served, f"verbatim paths {set(paths) - served} are not {service} operations"


def test_survey_sync_batches_is_not_taken_for_a_dci_path() -> None:
    router = Router(GatewayConfig())
    assert router.resolve("/registry/sync/batches") == ("registry", "/sync/batches")
    assert router.resolve("/registry/sync/search") == ("registry", "/registry/sync/search")


# ---------------------------------------------------------------- through real HTTP


@dataclass
class Recorder:
    """Wraps a service app and notes each request it receives: proof of which service answered."""

    app: ASGIApp
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@dataclass
class Routed:
    gateway_url: str
    recorders: dict[str, Recorder]
    docs: dict[str, dict[str, Any]]
    api_key: str


@pytest.fixture(scope="module")
async def routed(database_url: str, nats_url: str, settings: Settings) -> AsyncIterator[Routed]:
    from contextlib import AsyncExitStack

    from gateway.app import create_app as create_gateway
    from gateway.cli import provision_client

    await _truncate_all(database_url)
    await _delete_streams(nats_url)
    async with AsyncExitStack() as stack:
        recorders, urls, docs = {}, {}, {}
        for name in SERVICES:
            app = service_app(name, settings)
            docs[name] = app.openapi()
            recorders[name] = Recorder(app)
            urls[name] = (await stack.enter_async_context(Served(recorders[name]))).url  # type: ignore[arg-type]
        # No per-route-class limits here (the SMS class allows 10 writes at once): this walk is about routing.
        gateway = create_gateway(settings, config=gateway_config(route_classes=[]), upstreams=urls)
        served = await stack.enter_async_context(Served(gateway))
        issued = await provision_client(f"routing-{uuid.uuid4().hex[:8]}", ["*"], None, settings=settings,
                                        rate_per_minute=1_000_000)
        yield Routed(served.url, recorders, docs, issued.api_key)


def _placeholder(schema: dict[str, Any]) -> str:
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("type") == "integer":
        return "1"
    return "ROUTING-PROBE"


def _concrete(op: Operation) -> tuple[str, dict[str, str]]:
    path, query = op.path, {}
    for param in op.spec.get("parameters", []):
        value = _placeholder(param.get("schema", {}))
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", value)
        elif param["in"] == "query" and param.get("required"):
            query[param["name"]] = value
    return path, query


async def test_the_gateway_routes_every_operation_of_every_service_to_it(routed: Routed) -> None:
    config = GatewayConfig()
    failures: list[str] = []
    walked = 0
    async with httpx.AsyncClient(base_url=routed.gateway_url, headers={"X-API-Key": routed.api_key},
                                 timeout=30) as http:
        merged = (await http.get("/openapi.json")).json()["paths"]
        for name in SERVICES:
            for op in operations(name, routed.docs[name]):
                walked += 1
                gateway_template = mount_path(name, op.path, config.verbatim_paths.get(name, []))
                if op.method.lower() not in merged.get(gateway_template, {}):
                    failures.append(f"{op.method} {gateway_template}: missing from the merged /openapi.json")
                upstream_path, query = _concrete(op)
                gateway_path = mount_path(name, upstream_path, config.verbatim_paths.get(name, []))
                before = len(routed.recorders[name].seen)
                body: dict[str, Any] | None = {} if "requestBody" in op.spec else None
                response = await http.request(op.method, gateway_path, params=query, json=body)
                reached = (op.method, upstream_path) in routed.recorders[name].seen[before:]
                problem_type = _problem_type(response)
                if not reached or problem_type.endswith("/route-not-found") or response.status_code == 405 \
                        or response.status_code >= 500:
                    failures.append(f"{op.method} {gateway_path} -> {response.status_code} {problem_type} "
                                    f"(reached {name}: {reached})")
    assert walked >= 40, walked  # the registry alone has more; a walk of nothing proves nothing
    assert not failures, "\n".join(failures)


async def test_a_routing_404_is_not_a_missing_record(routed: Routed) -> None:
    async with httpx.AsyncClient(base_url=routed.gateway_url, headers={"X-API-Key": routed.api_key},
                                 timeout=30) as http:
        no_route = await http.get("/registry/no-such-thing/at-all")
        no_service = await http.get("/nowhere")
        no_record = await http.get("/registry/areas/IN-99")
    assert no_route.status_code == no_service.status_code == no_record.status_code == 404
    assert _problem_type(no_route).endswith("/route-not-found")
    assert _problem_type(no_service).endswith("/route-not-found")
    assert _problem_type(no_record).endswith("/not-found")


def _problem_type(response: httpx.Response) -> str:
    if "json" not in response.headers.get("content-type", ""):
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")) if isinstance(body, dict) else ""


def test_no_service_route_shadows_the_ops_routes(settings: Settings) -> None:
    """A service route at the root (GET /{number}) once answered /readyz with 401: never ready."""
    from starlette.routing import Match

    for name in SERVICES:
        app = service_app(name, settings)
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
            scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
            first = next(r for r in app.router.routes if r.matches(scope)[0] == Match.FULL)
            assert getattr(first, "path", None) == path, f"{name}: {path} is answered by {getattr(first, 'path', first)}"
