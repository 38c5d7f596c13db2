"""Forwarding to the services: routing, auth and scope checks, limits, retries, breaker, streaming.

This is a raw ASGI handler on purpose: it is the hot path, and skipping FastAPI's routing and
dependency machinery there is most of what keeps the gateway's added latency under a millisecond.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache

import aiohttp
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway.config import GatewayConfig, Limit, RouteClass
from gateway.metrics import (
    AUTH_FAILURES,
    CIRCUIT_OPEN,
    RATE_LIMITED,
    UPSTREAM_DURATION,
    UPSTREAM_FAILURES,
    UPSTREAM_RETRIES,
    ClientLabel,
)
from gateway.models import SERVICE_NAMES, Principal
from gateway.openapi import HIDDEN_UPSTREAM_PATHS
from gateway.ratelimit import Decision, SharedRateLimiter, source_address
from gateway.service import IdentityService
from kernel import roles
from kernel.errors import (
    BadGateway,
    Forbidden,
    GatewayTimeout,
    PayloadTooLarge,
    Problem,
    RequestTimeout,
    RouteNotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    problem_response,
)

log = logging.getLogger("gramsetu.gateway.proxy")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"transfer-encoding", b"upgrade",
})
# Caller headers never forwarded: credentials stay at the gateway, and identity/forwarding
# headers are the gateway's to set (a caller forging them must not be believed).
_STRIP_REQUEST = _HOP_BY_HOP | frozenset({
    b"host", b"content-length", b"authorization", b"x-api-key", b"cookie", b"forwarded", b"x-real-ip",
    b"x-request-id", b"x-gramsetu-identity", b"x-gramsetu-identity-signature",
})
_STRIP_RESPONSE = _HOP_BY_HOP | frozenset({b"server", b"date", b"x-request-id", b"content-length"})
_SMALL_BODY = 256 * 1024
ANONYMOUS = "anonymous"
# The caller of a signed path (kernel.paths.SIGNED_PATHS): it signs each request itself and the
# service verifies it (Beckn), so the gateway asks for no credential and passes its signature on.
SIGNED = "signed-network"
_EXPOSED = b"X-Request-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request bodies on this route are limited to {limit} bytes.", limit_bytes=limit)


class ClientGone(Exception):
    pass


@dataclass
class RequestContext:
    """What the access log and metrics need to know about a request once it is answered."""

    request_id: str
    route: str = "unmatched"
    client: str | None = None
    status: int = 500
    upstream: str | None = None
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class CircuitBreaker:
    """Closed -> open after N consecutive failures -> half-open after a pause (one trial call)."""

    def __init__(self, name: str, threshold: int, reset_seconds: float) -> None:
        self.name, self.threshold, self.reset_seconds = name, threshold, reset_seconds
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if time.monotonic() - self.opened_at >= self.reset_seconds and not self._trial:
            self._trial = True  # half-open: let exactly one call test the upstream
            return True
        return False

    def retry_after(self) -> int:
        if self.opened_at is None:
            return 0
        return max(1, int(self.reset_seconds - (time.monotonic() - self.opened_at)) + 1)

    def success(self) -> None:
        if self.opened_at is not None:
            CIRCUIT_OPEN.labels(self.name).set(0)
        self.failures, self.opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        self.failures += 1
        if self._trial or self.failures >= self.threshold:
            if self.opened_at is None or self._trial:
                log.warning("circuit for %s opened after %d failures", self.name, self.failures)
            self.opened_at, self._trial = time.monotonic(), False
            CIRCUIT_OPEN.labels(self.name).set(1)


def required_scope(service: str, method: str, path: str) -> str:
    """Reads need ``<service>:read``; writes ``<service>:write``; sending messages ``notify:send``."""
    if service == "registry" and method == "POST" and "search" in path:
        return "registry:read"  # DCI searches are reads carried by POST
    if method in READ_METHODS:
        return f"{service}:read"
    if service == "notify":
        return "notify:send"
    return f"{service}:write"


_DCI_CODES = {401: "err.request.unauthorized", 403: "err.request.forbidden", 408: "err.request.timeout",
              429: "err.request.too_many_requests", 504: "err.request.timeout"}


def dci_error_response(problem: Problem) -> JSONResponse:
    """The gateway's refusal on a DCI path, as the DCI acknowledgement (``ack_status: ERR``)."""
    code = _DCI_CODES.get(problem.status, "err.request.bad" if problem.status < 500 else "err.service.unavailable")
    body = {"message": {"ack_status": "ERR", "timestamp": datetime.now(timezone.utc).isoformat(),
                        "correlation_id": str(uuid.uuid4()), "error": {"code": code, "message": problem.detail[:999]}}}
    return JSONResponse(body, status_code=problem.status, headers=problem.headers)


class Router:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.verbatim = {path: service for service, paths in config.verbatim_paths.items() for path in paths}
        self.signed = frozenset(path for paths in config.signed_paths.values() for path in paths)

    @lru_cache(maxsize=8192)  # noqa: B019 - one Router per app, the cache lives as long as it does
    def resolve(self, path: str) -> tuple[str, str] | None:
        """(service, upstream path) for a gateway path, or None if it is not a service's."""
        verbatim = self.verbatim.get(path)
        if verbatim is not None:
            return verbatim, path
        head, _, rest = path[1:].partition("/")
        if head in SERVICE_NAMES:
            return head, "/" + rest
        return None

    def route_class(self, service: str, method: str, path: str) -> RouteClass | None:
        for rc in self.config.route_classes:
            if rc.service and rc.service != service:
                continue
            if rc.methods and method not in rc.methods:
                continue
            if rc.path_contains and not any(part in path for part in rc.path_contains):
                continue
            return rc
        return None


def _bad_path(path: str) -> bool:
    segments = path.split("/")
    return ".." in segments or "." in segments or "\\" in path or "\x00" in path


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class Proxy:
    def __init__(self, config: GatewayConfig, upstreams: dict[str, str], identity: IdentityService,
                 limiter: SharedRateLimiter, client_label: ClientLabel,
                 template_for: Callable[[str], str | None], cors_origins: Callable[[], Awaitable[set[str]]]) -> None:
        self.config = config
        self.upstreams = {name: base.rstrip("/") for name, base in upstreams.items()}
        self.identity = identity
        self.limiter = limiter
        self.client_label = client_label
        self.template_for = template_for
        self.cors_origins = cors_origins
        self.router = Router(config)
        self.breakers = {name: CircuitBreaker(name, config.breaker_failure_threshold, config.breaker_reset_seconds)
                         for name in upstreams}
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.config.upstream_connection_limit, limit_per_host=0,
                                         ttl_dns_cache=300, enable_cleanup_closed=True,
                                         keepalive_timeout=self.config.upstream_keepalive_seconds)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                             skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"))

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    def matches(self, path: str) -> bool:
        return self.router.resolve(path) is not None

    @lru_cache(maxsize=4096)  # noqa: B019
    def _route_label(self, service: str, path: str) -> str:
        return self.template_for(path) or f"/{service}/*"

    async def handle(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        path: str = scope["path"]
        resolved = self.router.resolve(path)
        assert resolved is not None
        service, upstream_path = resolved
        ctx.route = self._route_label(service, path)
        ctx.upstream = service
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        method: str = scope["method"]
        try:
            if _bad_path(path) or upstream_path in HIDDEN_UPSTREAM_PATHS:
                raise RouteNotFound(f"No operation at {path}.")
            if service not in self.upstreams:
                raise RouteNotFound(f"No operation at {path}: this gateway does not front the {service} service.")
            origin = _header(headers, b"origin")
            if method == "OPTIONS" and origin and _header(headers, b"access-control-request-method"):
                await self._preflight(origin, headers, send, ctx)
                return
            principal = await self._principal(scope, headers, method, path)
            ctx.client = self.client_label(principal.name or principal.kind)
            if origin and origin in principal.cors_origins:
                ctx.extra_headers += [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin"),
                                      (b"access-control-expose-headers", _EXPOSED)]
            scope_needed = required_scope(service, method, upstream_path)
            # A service's admin scope passes its coarse gate; the service checks each operation itself.
            coarse = principal.has_scope(scope_needed) or principal.has_scope(f"{service}:admin")
            if principal.kind != SIGNED and not coarse:
                # A finer permission of the role table may open this route on its own (kernel/roles.py).
                finer = roles.route_permissions(method, path)
                if not any(principal.has_scope(p) for p in finer):
                    AUTH_FAILURES.labels("scope").inc()
                    raise Forbidden(f"This call needs the {' or '.join(repr(s) for s in [scope_needed, *finer])} "
                                    "scope.")
            await self._limit(principal, service, method, upstream_path, ctx)
            body = await self._read_body(scope, receive, headers, upstream_path, method)
            await self._forward(scope, send, ctx, principal, service, upstream_path, body)
        except Problem as problem:
            await self._problem(problem, scope, receive, send, ctx)
        except ClientGone:
            ctx.status = 499

    async def _problem(self, problem: Problem, scope: Scope, receive: Receive, send: Send,
                       ctx: RequestContext) -> None:
        dci = scope["path"] in self.router.verbatim  # DCI clients parse the DCI error ack, as JSON
        response = dci_error_response(problem) if dci else problem_response(problem, instance=scope["path"])
        response.raw_headers.append((b"x-request-id", ctx.request_id.encode()))
        response.raw_headers.extend(ctx.extra_headers)
        ctx.status = problem.status
        await response(scope, receive, send)

    async def _principal(self, scope: Scope, headers: list[tuple[bytes, bytes]], method: str,
                         path: str) -> Principal:
        """The caller; with no credential at all, on a route the role table opens to anyone, an anonymous
        principal holding just that permission, named by its source address (its rate-limit bucket).
        On a signed path, a network caller whose own signature the service verifies, named likewise."""
        if method == "POST" and path in self.router.signed:
            peer = scope.get("client")
            source = source_address(peer[0] if peer else None, _header(headers, b"x-forwarded-for"),
                                    self.config.trusted_proxies)
            return Principal(subject=source, kind=SIGNED, scopes=[], area_scope=[], name=SIGNED)
        if not any(key in (b"x-api-key", b"authorization") for key, _ in headers):
            permission = roles.anonymous_permission(method, path)
            if permission is not None:
                peer = scope.get("client")
                source = source_address(peer[0] if peer else None, _header(headers, b"x-forwarded-for"),
                                        self.config.trusted_proxies)
                return Principal(subject=source, kind=ANONYMOUS, scopes=[permission], area_scope=[],
                                 name=ANONYMOUS)
        return await self._authenticate(headers)

    async def _authenticate(self, headers: list[tuple[bytes, bytes]]) -> Principal:
        api_key = bearer = None
        for key, value in headers:
            if key == b"x-api-key":
                api_key = value.decode("latin-1").strip()
            elif key == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and credential.strip():
                    bearer = credential.strip()
                elif scheme.lower() == "apikey" and credential.strip():
                    api_key = credential.strip()
        try:
            return await self.identity.authenticate(api_key or None, bearer)
        except Unauthorized as exc:
            AUTH_FAILURES.labels(str(exc.extensions.get("reason", "other"))).inc()
            raise

    async def _limit(self, principal: Principal, service: str, method: str, path: str,
                     ctx: RequestContext) -> None:
        base = self.config.anonymous_limit if principal.kind == ANONYMOUS else self.config.default_limit
        if principal.rate_per_minute:
            base = Limit(per_minute=principal.rate_per_minute,
                         capacity=max(1.0, principal.rate_per_minute / 6))
        checks: list[tuple[str, str, Limit]] = [("client", f"c:{principal.kind}:{principal.subject}", base)]
        rc = self.router.route_class(service, method, path)
        if rc is not None:
            checks.append((rc.name, f"r:{rc.name}:{principal.kind}:{principal.subject}", rc.limit))
        tightest: Decision | None = None
        for name, key, limit in checks:
            decision = await self.limiter.take(key, limit)
            if not decision.allowed:
                RATE_LIMITED.labels(name, ctx.client or "other").inc()
                ctx.extra_headers += decision.headers()
                raise TooManyRequests(
                    f"Rate limit for {name} requests exceeded; retry in {decision.retry_after} s.",
                    route_class=name,
                )
            if tightest is None or decision.remaining < tightest.remaining:
                tightest = decision
        if tightest is not None:
            ctx.extra_headers += tightest.headers()

    async def _read_body(self, scope: Scope, receive: Receive, headers: list[tuple[bytes, bytes]],
                         path: str, method: str) -> bytes:
        length = _header(headers, b"content-length")
        chunked = _header(headers, b"transfer-encoding")
        if length is None and chunked is None:
            return b""
        bulk = any(p in path for p in ("/import", "/bulk"))
        limit = self.config.max_bulk_body_bytes if bulk else self.config.max_body_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0

        async def read_all() -> None:
            nonlocal size
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return

        try:
            await asyncio.wait_for(read_all(), self.config.body_timeout_seconds)
        except asyncio.TimeoutError as exc:
            raise RequestTimeout(
                f"The request body did not arrive within {self.config.body_timeout_seconds} s."
            ) from exc
        return b"".join(chunks)

    def _upstream_headers(self, scope: Scope, ctx: RequestContext, principal: Principal) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in scope["headers"]:
            if principal.kind == SIGNED and key == b"authorization" and value[:10].lower() == b"signature ":
                out["authorization"] = value.decode("latin-1")  # the caller's own request signature
                continue
            if key in _STRIP_REQUEST or key.startswith(b"x-forwarded-"):
                continue
            name = key.decode("latin-1")
            out[name] = out[name] + ", " + value.decode("latin-1") if name in out else value.decode("latin-1")
        if principal.kind not in (ANONYMOUS, SIGNED):  # these reach the service with no identity at all
            out.update(self.identity.identity_headers(principal))
        out["x-request-id"] = ctx.request_id
        client = scope.get("client")
        if client:
            out["x-forwarded-for"] = client[0]
        out["x-forwarded-proto"] = scope.get("scheme", "http")
        host = _header(scope["headers"], b"host")
        if host:
            out["x-forwarded-host"] = host
        return out

    def _timeout(self, service: str, headers: list[tuple[bytes, bytes]]) -> aiohttp.ClientTimeout:
        read = self.config.route_timeouts.get(service, self.config.upstream_timeout_seconds)
        if "text/event-stream" in (_header(headers, b"accept") or ""):
            read = self.config.stream_idle_timeout_seconds  # SSE: idle gaps are normal, not failures
        return aiohttp.ClientTimeout(total=None, connect=self.config.connect_timeout_seconds, sock_read=read)

    async def _forward(self, scope: Scope, send: Send, ctx: RequestContext, principal: Principal,
                       service: str, upstream_path: str, body: bytes) -> None:
        assert self.session is not None
        method = scope["method"]
        base = self.upstreams[service]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        # Keep the caller's encoding: only the mount prefix is removed, never re-quoted.
        raw = raw_path.decode("latin-1")
        upstream_raw = raw if upstream_path == scope["path"] else raw[len(service) + 1:] or "/"
        query = scope.get("query_string") or b""
        # The upstream's scheme/host/port are fixed by configuration; the caller only picks a path.
        url = URL(base + upstream_raw + ("?" + query.decode("latin-1") if query else ""), encoded=True)
        headers = self._upstream_headers(scope, ctx, principal)
        timeout = self._timeout(service, scope["headers"])
        breaker = self.breakers[service]
        attempts = 1 + (self.config.max_retries if method in IDEMPOTENT else 0)
        for attempt in range(attempts):
            if not breaker.allow():
                UPSTREAM_FAILURES.labels(service, "circuit_open").inc()
                raise ServiceUnavailable(f"The {service} service is failing; the gateway is shielding it.",
                                  headers={"Retry-After": str(breaker.retry_after())})
            started = time.perf_counter()
            try:
                response = await self.session.request(method, url, headers=headers, data=body or None,
                                                      timeout=timeout, allow_redirects=False)
            except asyncio.TimeoutError as exc:
                breaker.failure()
                UPSTREAM_FAILURES.labels(service, "timeout").inc()
                raise GatewayTimeout(f"The {service} service did not answer in time.") from exc
            except aiohttp.ClientError as exc:
                breaker.failure()
                UPSTREAM_FAILURES.labels(service, "connect").inc()
                if attempt + 1 < attempts:
                    UPSTREAM_RETRIES.labels(service).inc()
                    await asyncio.sleep(0.05 * 2**attempt)
                    continue
                raise BadGateway(f"The {service} service could not be reached.") from exc
            UPSTREAM_DURATION.labels(service).observe(time.perf_counter() - started)
            if response.status in (502, 503, 504):
                breaker.failure()
                UPSTREAM_FAILURES.labels(service, f"status_{response.status}").inc()
                if attempt + 1 < attempts:
                    response.release()
                    UPSTREAM_RETRIES.labels(service).inc()
                    await asyncio.sleep(0.05 * 2**attempt)
                    continue
            else:
                breaker.success()
            await self._relay(response, send, ctx)
            return

    async def _relay(self, response: aiohttp.ClientResponse, send: Send, ctx: RequestContext) -> None:
        out: list[tuple[bytes, bytes]] = [
            (k, v) for k, v in response.raw_headers if k.lower() not in _STRIP_RESPONSE
        ]
        out.append((b"x-request-id", ctx.request_id.encode()))
        out.extend(ctx.extra_headers)
        ctx.status = response.status
        try:
            length = response.content_length
            if length is not None and length <= _SMALL_BODY:
                payload = await response.read()
                out.append((b"content-length", str(len(payload)).encode()))
                await send({"type": "http.response.start", "status": response.status, "headers": out})
                await send({"type": "http.response.body", "body": payload, "more_body": False})
                return
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            async for chunk in response.content.iter_any():  # streams (SSE) pass through as they come
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            # Headers are gone already: all we can do is end the body and record it.
            UPSTREAM_FAILURES.labels(ctx.upstream or "?", "stream").inc()
            log.warning("upstream stream broke: %s", exc)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            response.release()

    async def _preflight(self, origin: str, headers: list[tuple[bytes, bytes]], send: Send,
                         ctx: RequestContext) -> None:
        """CORS preflights carry no credentials: allow an origin some live client registered."""
        allowed = origin in await self.cors_origins()
        out: list[tuple[bytes, bytes]] = [(b"vary", b"Origin"), (b"x-request-id", ctx.request_id.encode()),
                                          (b"content-length", b"0")]
        if allowed:
            requested = _header(headers, b"access-control-request-headers") or ""
            out += [
                (b"access-control-allow-origin", origin.encode()),
                (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
                (b"access-control-allow-headers", requested.encode("latin-1")[:1024]),
                (b"access-control-max-age", b"600"),
            ]
        ctx.status = 204 if allowed else 403
        await send({"type": "http.response.start", "status": ctx.status, "headers": out})
        await send({"type": "http.response.body", "body": b""})
