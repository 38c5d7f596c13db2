"""Gateway fixtures: the registry and the gateway as real uvicorn servers on free ports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from gateway.cli import provision_client, provision_user
from gateway.config import GatewayConfig
from gramsetu.embedded import free_port
from kernel.settings import Settings
from tests.conftest import _delete_streams, _truncate_all


class Served:
    """A uvicorn server in this event loop: real sockets, real HTTP."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on", proxy_headers=False,
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Served:
        self.task = asyncio.create_task(self.server.serve())
        for _ in range(300):
            if self.server.started:
                return self
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.05)
        raise TimeoutError("server did not start")

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        assert self.task is not None
        await asyncio.wait_for(self.task, 15)


@dataclass
class Stack:
    gateway_url: str
    registry_url: str
    settings: Settings
    config: GatewayConfig
    app: FastAPI

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway_url, headers=headers, timeout=30)

    async def new_client(self, scopes: list[str], areas: list[str] | None = None, **kwargs: object) -> dict[str, str]:
        issued = await provision_client(f"t-{uuid.uuid4().hex[:10]}", scopes, areas, settings=self.settings,
                                        **kwargs)  # type: ignore[arg-type]
        return {"client_id": issued.client_id, "client_secret": issued.client_secret, "api_key": issued.api_key,
                "name": issued.name}

    async def new_user(self, roles: list[str], areas: list[str]) -> tuple[str, str]:
        username, password = f"u{uuid.uuid4().hex[:10]}", "a-long-enough-password"
        await provision_user(username, password, roles, areas, settings=self.settings)
        return username, password


def gateway_config(**overrides: object) -> GatewayConfig:
    base: dict[str, object] = {"credential_cache_seconds": 0.5, "body_timeout_seconds": 1.5,
                               "upstream_timeout_seconds": 5, "openapi_cache_seconds": 2}
    return GatewayConfig(**(base | overrides))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def stack(database_url: str, nats_url: str, settings: Settings) -> AsyncIterator[Stack]:
    from gateway.app import create_app as create_gateway
    from services.registry.app import create_app as create_registry

    await _truncate_all(database_url)
    await _delete_streams(nats_url)
    async with Served(create_registry(settings, workers=False)) as registry, Served(edge_app()) as edge:
        config = gateway_config(route_timeouts={"marketplace": 1.0})
        app = create_gateway(settings, config=config, upstreams={
            "registry": registry.url,
            "benefits": "http://127.0.0.1:9",  # nothing listens there: a down upstream
            "notify": "http://127.0.0.1:9",
            "tickets": edge.url, "marketplace": edge.url,
        })
        async with Served(app) as gw:
            stack = Stack(gw.url, registry.url, settings, config, app)
            await _seed_areas(stack)
            yield stack


def edge_app() -> FastAPI:
    """An upstream with the awkward behaviours a proxy must survive: streams and slow answers.

    Real HTTP through the real gateway; it stands in for endpoints (live ticket tracking,
    slow partners) that the services do not all have yet.
    """
    app = FastAPI()

    @app.get("/events", response_model=None)
    async def events() -> StreamingResponse:
        async def stream() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"event: tick\ndata: {i}\n\n".encode()
                await asyncio.sleep(0.3)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {"status": "late"}

    @app.get("/echo-headers")
    async def echo(request: Request) -> dict[str, str]:
        return dict(request.headers)

    return app


async def _seed_areas(stack: Stack) -> None:
    admin = await stack.new_client(["*"])
    async with stack.client(**{"X-API-Key": admin["api_key"]}) as http:
        for code, name in [("IN-23", "Madhya Pradesh"), ("IN-23-0456", "Ward A district"),
                           ("IN-23-0457", "Ward B district")]:
            r = await http.post("/registry/areas", json={"code": code, "name": name})
            assert r.status_code == 201, r.text
