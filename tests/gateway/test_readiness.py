"""The gateway's /readyz means what `gramsetu up` and Kubernetes take it to mean: every upstream
answers and the merged /openapi.json is complete; and the merged document follows a service whose
document changed (a new version rolled out) within seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from gramsetu.embedded import free_port
from kernel.app import create_service_app
from kernel.runtime import ServiceSpec
from kernel.settings import Settings
from tests.gateway.conftest import Served, gateway_config


def tickets_app(settings: Settings, *paths: str) -> FastAPI:
    app = create_service_app(ServiceSpec(name="tickets", title="Tickets", description="test double of a version"),
                             settings, workers=False)
    for path in paths:
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET"], summary=f"GET {path}")
    return app


@asynccontextmanager
async def serve_on(app: FastAPI, port: int) -> AsyncIterator[Served]:
    served = Served(app)
    served.port, served.url = port, f"http://127.0.0.1:{port}"
    served.server.config.port = port
    async with served:
        yield served


async def test_ready_only_with_every_upstream_up_and_the_whole_document(settings: Settings, clean: None) -> None:
    from gateway.app import create_app as create_gateway
    from services.registry.app import create_app as create_registry

    tickets_port = free_port()
    async with Served(create_registry(settings, workers=False)) as registry:
        gateway = create_gateway(settings, config=gateway_config(openapi_watch_seconds=60), upstreams={
            "registry": registry.url, "tickets": f"http://127.0.0.1:{tickets_port}"})
        async with Served(gateway) as gw, httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
            not_yet = await http.get("/readyz")
            assert not_yet.status_code == 503
            assert not_yet.json()["upstreams"]["tickets"]["ready"] is False
            async with serve_on(tickets_app(settings, "/v1-only"), tickets_port):
                ready = await http.get("/readyz")
                assert ready.status_code == 200, ready.text
                paths = (await http.get("/openapi.json")).json()["paths"]  # at once, not 20 s later
                assert "/tickets/v1-only" in paths and "/registry/areas" in paths
            gone = await http.get("/readyz")
            assert gone.status_code == 503


async def test_the_merged_document_follows_an_upstream_that_changed(settings: Settings, clean: None) -> None:
    from gateway.app import create_app as create_gateway

    port = free_port()
    gateway = create_gateway(settings, config=gateway_config(openapi_watch_seconds=0.3, openapi_cache_seconds=3600),
                             upstreams={"tickets": f"http://127.0.0.1:{port}"})
    async with Served(gateway) as gw, httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        async with serve_on(tickets_app(settings, "/v1-only"), port):
            assert (await http.get("/readyz")).status_code == 200
            assert "/tickets/v1-only" in (await http.get("/openapi.json")).json()["paths"]
        async with serve_on(tickets_app(settings, "/v1-only", "/added-in-v2"), port):
            for _ in range(50):  # the watcher notices without anyone calling /readyz
                if "/tickets/added-in-v2" in (await http.get("/openapi.json")).json()["paths"]:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the merged document never showed the new operation")


async def test_a_gateway_fronting_some_services_is_ready_with_them_and_refuses_the_others_plainly(
        settings: Settings, clean: None) -> None:
    """`gramsetu up -s registry -s gateway`: the gateway fronts the registry only. It was never ready
    (it waited on services nobody started), and GRAMSETU_SERVICE_PORTS naming only some services made it
    crash (KeyError) at startup."""
    from gateway.app import create_app as create_gateway
    from services.registry.app import create_app as create_registry

    async with Served(create_registry(settings, workers=False)) as registry:
        partial = settings.model_copy(update={"service_urls": {"registry": registry.url}})
        gateway = create_gateway(partial, config=gateway_config(services=["registry"]))
        async with Served(gateway) as gw, httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["upstreams"]) == {"registry"}
            r = await http.get("/benefits/schemes")
            assert r.status_code == 404 and r.json()["type"].endswith("/route-not-found"), r.text
            assert "/registry/areas" in (await http.get("/openapi.json")).json()["paths"]


def test_service_ports_may_name_only_some_services(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRAMSETU_SERVICE_PORTS", '{"registry": 28781}')
    ports = Settings().service_ports
    assert ports["registry"] == 28781 and ports["benefits"] == Settings.model_fields["service_ports"].default["benefits"]


def test_an_unknown_fronted_service_is_refused_with_the_known_ones() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown service"):
        gateway_config(services=["registy"])
