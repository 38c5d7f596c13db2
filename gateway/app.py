"""The gateway application: its own endpoints plus the proxy in front of every service."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import SERVICE
from gateway.config import GatewayConfig
from gateway.metrics import DURATION, REQUESTS, ClientLabel
from gateway.openapi import MergedOpenAPI
from gateway.proxy import Proxy, RequestContext, required_scope
from gateway.ratelimit import SharedRateLimiter
from gateway.repository import GatewayRepository
from gateway.routes import admin, router
from gateway.service import IdentityService
from kernel.app import UnexpectedErrorMiddleware, freeze_startup_objects, install_request_guards
from kernel.context import clean_request_id, request_id_var
from kernel.db import asyncpg_dsn, make_engine
from kernel.docs import install_offline_docs
from kernel.errors import PROBLEM_CONTENT_TYPE, PROBLEM_RESPONSES, install_problem_handlers
from kernel.logging import configure_logging
from kernel.metrics import metrics_endpoint
from kernel.settings import Settings, get_settings

access_log = logging.getLogger("gramsetu.gateway.access")


@dataclass
class GatewayState:
    settings: Settings
    config: GatewayConfig
    engine: AsyncEngine
    identity: IdentityService
    limiter: SharedRateLimiter
    proxy: Proxy
    openapi: MergedOpenAPI
    pool: asyncpg.Pool | None = None
    _cors: tuple[set[str], float] = field(default_factory=lambda: (set(), 0.0))

    async def cors_origins(self) -> set[str]:
        origins, until = self._cors
        if until < time.monotonic():
            async with self.engine.connect() as conn:
                origins = await GatewayRepository(conn).all_cors_origins()
            self._cors = (origins, time.monotonic() + self.config.credential_cache_seconds)
        return origins

    def changed(self) -> None:
        """An admin change on this replica takes effect here at once (elsewhere within the cache TTL)."""
        self.identity.forget()
        self._cors = (set(), 0.0)


class GatewayMiddleware:
    """Request id, access log and RED metrics for every request; service paths go to the proxy."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: GatewayState = self.fastapi_app.state.gateway
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        ctx = RequestContext(request_id=clean_request_id(incoming))
        token = request_id_var.set(ctx.request_id)
        started = time.perf_counter()

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if state.proxy.matches(scope["path"]):
                await state.proxy.handle(scope, receive, send, ctx)
            else:
                await self._own(scope, receive, send, ctx)

        try:
            # A failure of the gateway's own is a 500 problem that keeps the client's connection open.
            await UnexpectedErrorMiddleware(dispatch)(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            REQUESTS.labels(ctx.route, method, str(ctx.status), ctx.client or "anonymous").inc()
            DURATION.labels(ctx.route, method).observe(elapsed)
            access_log.info("request", extra={
                "request_id": ctx.request_id, "method": method, "path": scope["path"], "route": ctx.route,
                "status": ctx.status, "client": ctx.client or "anonymous", "latency_ms": round(elapsed * 1000, 3),
                "upstream": ctx.upstream,
            })
            request_id_var.reset(token)

    async def _own(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        for route in self.fastapi_app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                ctx.route = str(getattr(route, "path", "unmatched"))
                break

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", ctx.request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_wrapper)


@dataclass(frozen=True)
class UpstreamStatus:
    ready: bool
    digest: str | None  # fingerprint of its OpenAPI document, from its /readyz


async def probe_upstreams(session: aiohttp.ClientSession, urls: dict[str, str]) -> dict[str, UpstreamStatus]:
    async def probe(base: str) -> UpstreamStatus:
        try:
            async with session.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                body = await resp.json(content_type=None)
                digest = body.get("openapi_sha256") if isinstance(body, dict) else None
                return UpstreamStatus(resp.status == 200, digest if isinstance(digest, str) else None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return UpstreamStatus(False, None)

    names = list(urls)
    return dict(zip(names, await asyncio.gather(*(probe(urls[n]) for n in names)), strict=True))


async def watch_openapi(state: GatewayState, urls: dict[str, str], every: float) -> None:
    """Keep the merged document complete and current without waiting for a caller to ask."""
    assert state.proxy.session is not None
    await state.openapi.document(state.proxy.session)
    while True:
        await asyncio.sleep(every)
        try:
            upstreams = await probe_upstreams(state.proxy.session, urls)
            await state.openapi.refresh(state.proxy.session, {n: u.digest for n, u in upstreams.items()})
        except Exception:  # the watcher must outlive any one failed round
            logging.getLogger("gramsetu.gateway.openapi").exception("openapi watch round failed")


async def _database_answers(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
        return True
    except Exception:
        return False


def create_app(settings: Settings | None = None, *, config: GatewayConfig | None = None,
               upstreams: dict[str, str] | None = None, **_: object) -> FastAPI:
    settings = settings or get_settings()
    config = config or GatewayConfig()
    configure_logging(SERVICE, settings.log_level)
    if not settings.database_url:
        raise RuntimeError("GRAMSETU_DATABASE_URL / DATABASE_URL is not set")
    config.check_environment(settings.environment)
    upstream_urls = upstreams or {name: settings.service_url(name) for name in config.services}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state: GatewayState = app.state.gateway
        state.pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url or ""), min_size=1,
                                                 max_size=settings.worker_pool_size)
        state.limiter.pool = state.pool
        await state.identity.start()
        await state.proxy.start()
        assert state.proxy.session is not None
        # Route labels for metrics, and a merged document that follows the upstreams' changes.
        warm = asyncio.create_task(watch_openapi(state, upstream_urls, config.openapi_watch_seconds))
        sweeper = asyncio.create_task(state.limiter.run_sweeper())  # bounded gateway.rate_bucket
        freeze_startup_objects()
        try:
            yield
        finally:
            warm.cancel()
            sweeper.cancel()
            await asyncio.gather(warm, sweeper, return_exceptions=True)
            await state.proxy.stop()
            await state.pool.close()
            await state.engine.dispose()

    app = FastAPI(title="GramSetu Gateway", version="0.1.0", lifespan=lifespan, openapi_url=None,
                  docs_url=None, redoc_url=None, responses=PROBLEM_RESPONSES)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    identity = IdentityService(engine, settings, config)
    limiter = SharedRateLimiter(None, config)
    merged = MergedOpenAPI(upstream_urls, app.openapi, config.verbatim_paths, required_scope,
                           config.openapi_cache_seconds)
    state = GatewayState(settings, config, engine, identity, limiter, proxy=None, openapi=merged)  # type: ignore[arg-type]
    state.proxy = Proxy(config, upstream_urls, identity, limiter, ClientLabel(config.metrics_clients),
                        merged.template, state.cors_origins)
    app.state.gateway = state
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(admin)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": SERVICE}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready when the gateway's database answers, every upstream's /readyz answers ready and the
        merged /openapi.json has every upstream's operations (rebuilt first if one changed)."""
        db_ok = await _database_answers(engine)
        assert state.proxy.session is not None
        upstreams = await probe_upstreams(state.proxy.session, upstream_urls)
        await state.openapi.refresh(state.proxy.session, {n: u.digest for n, u in upstreams.items()})
        complete = state.openapi.complete
        upstreams_ok = all(u.ready for u in upstreams.values())
        ok = db_ok and (not config.ready_requires_upstreams or (upstreams_ok and complete))
        body: dict[str, object] = {
            "status": "ready" if ok else "not ready",
            "checks": {"database": db_ok, "upstreams": upstreams_ok, "openapi_complete": complete},
            "upstreams": {n: {"ready": u.ready, "circuit_closed": state.proxy.breakers[n].opened_at is None}
                          for n, u in upstreams.items()},
        }
        if not ok:
            body |= {"type": "https://gramsetu.org/problems/not-ready", "title": "Not ready", "status": 503}
        return JSONResponse(body, status_code=200 if ok else 503,
                            media_type="application/json" if ok else PROBLEM_CONTENT_TYPE)

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    install_offline_docs(app, title="GramSetu API")  # Swagger UI for the merged document, no CDN
    install_request_guards(app, settings)  # the gateway's own routes; the services guard their own
    app.add_middleware(GatewayMiddleware, fastapi_app=app)
    return app
