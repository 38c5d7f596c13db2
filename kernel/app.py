"""The FastAPI application every service is built from."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.context import REQUEST_ID_HEADER, clean_request_id, request_id_var
from kernel.db import DbSessionMiddleware
from kernel.docs import install_offline_docs, openapi_digest
from kernel.errors import (
    PROBLEM_CONTENT_TYPE,
    PROBLEM_RESPONSES,
    Problem,
    install_problem_handlers,
    problem_response,
)
from kernel.logging import configure_logging
from kernel.metrics import MetricsMiddleware, metrics_endpoint
from kernel.paths import public_path
from kernel.runtime import Runtime, ServiceSpec
from kernel.scheduler import Clock
from kernel.settings import Settings, get_settings
from kernel.validation import RequestGuardMiddleware

log = logging.getLogger("gramsetu.errors")


# The cyclic collector's youngest generation runs after this many more container objects were
# allocated than freed (Python's default: 700).  One request allocates thousands (scope, coroutines,
# dicts of its body, rows and models), so at 700 the collector ran several times inside every request,
# walking objects that the end of the request frees anyway and promoting them to older generations
# that are walked again: py-spy put ~5% of a uvicorn process's CPU on POST /tickets in the collector
# (docs/tickets.md).  At 10,000 most of a request's objects are gone before a collection sees them;
# what it waits for is a few megabytes at most.
YOUNG_GC_THRESHOLD = 10_000


def freeze_startup_objects() -> None:
    """Move everything allocated during start-up (modules, models, schemas, routes: well over a
    hundred thousand objects) out of the cyclic collector's reach (``gc.freeze``).  Otherwise each
    full collection walks them all, a pause of tens of milliseconds in the middle of serving
    requests: the tail of every latency figure.  They live as long as the process.  Then let the
    young generation grow to :data:`YOUNG_GC_THRESHOLD` between collections."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, older, oldest)


class RequestIdMiddleware:
    """Take the caller's (or gateway's) X-Request-ID, or mint one; echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = clean_request_id(incoming)
        token = request_id_var.set(request_id)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            request_id_var.reset(token)


class UnexpectedErrorMiddleware:
    """An exception no handler took becomes a 500 problem (with the request id) *inside* the stack.

    Left to Starlette's outermost handler, the exception is re-raised after the 500 is sent, and
    uvicorn then closes the keep-alive connection: the gateway's pooled connection dies with it,
    and its next request on that connection (a POST, not retried) failed with 502."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            if started:
                raise  # half a response is out: only closing the connection can tell the client
            log.exception("unhandled error", extra={"path": scope.get("path")})
            service = getattr(scope["app"].state, "service", None) if "app" in scope else None
            problem = Problem("The server failed to handle this request; it has been logged with the request id.",
                              status=500, type_slug="internal-error", title="Internal server error")
            await problem_response(problem, instance=public_path(service, scope["path"]))(scope, receive, send)


def _openapi_digest(app: FastAPI) -> str:
    digest = getattr(app.state, "openapi_digest", None)
    if digest is None:  # the document is fixed once the app is built: compute it once
        digest = app.state.openapi_digest = openapi_digest(app.openapi())
    return str(digest)


def install_request_guards(app: FastAPI, settings: Settings) -> None:
    """What every GramSetu app refuses before its routes run (kernel/validation.py), and the 500
    that keeps the connection open.  Added innermost-first: outside the db session, inside the
    request id and metrics."""
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=settings.max_json_body_bytes,
                       max_depth=settings.max_json_depth)
    app.add_middleware(UnexpectedErrorMiddleware)


def create_service_app(
    spec: ServiceSpec,
    settings: Settings | None = None,
    *,
    workers: bool | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(spec.name, settings.log_level)
    runtime = Runtime(spec, settings, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start(workers=workers)
        app.state.sessionmaker = runtime.sessionmaker
        freeze_startup_objects()
        try:
            yield
        finally:
            await runtime.stop()
            for hook in spec.on_stop:
                await asyncio.to_thread(hook)

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        docs_url=None,  # served below from installed assets, not a CDN
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.service = spec.name  # problem instances and links are public paths (kernel/paths.py)
    install_problem_handlers(app)
    install_offline_docs(app, title=spec.title)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database and NATS answer",
             responses={503: {"description": "A dependency is down"}})
    async def readyz(request: Request) -> JSONResponse:
        checks = await runtime.ready()
        ok = all(checks.values())
        body: dict[str, object] = {"status": "ready" if ok else "not ready", "checks": checks,
                                   "openapi_sha256": _openapi_digest(request.app)}
        if not ok:
            body |= {"type": "https://gramsetu.org/problems/not-ready", "title": "Not ready", "status": 503}
        return JSONResponse(body, status_code=200 if ok else 503,
                            media_type="application/json" if ok else PROBLEM_CONTENT_TYPE)

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    # The service's routes come after the ops routes: a route at the root such as GET /{number}
    # must not answer /readyz (it did: 401, and `gramsetu up` waited for ever).
    for router in spec.routers:
        app.include_router(router)
    app.add_middleware(DbSessionMiddleware)
    install_request_guards(app, settings)
    app.add_middleware(MetricsMiddleware, service=spec.name)
    app.add_middleware(RequestIdMiddleware)
    return app


__all__ = ["REQUEST_ID_HEADER", "create_service_app"]
