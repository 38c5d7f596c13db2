"""One OpenAPI 3.1 document for the whole platform, merged from every upstream's own.

Paths get the service's mount prefix, component schemas are renamed ``<service>__<Name>``
so they cannot collide, operations are tagged by service and carry the gateway's security
schemes and refusals (401/403/413/429/502/503/504).  The merged document is cached; a down
upstream keeps its last good copy, or is listed in ``x-gramsetu-unavailable``.

Each service reports a fingerprint of its document in ``/readyz`` (``openapi_sha256``); the
gateway's watcher (and its own ``/readyz``) compares them with the documents it merged and
rebuilds as soon as one changed, so a service rolled out with new operations shows them within
seconds, not after the cache's lifetime.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from typing import Any

import aiohttp

from kernel import roles
from kernel.docs import openapi_digest
from kernel.errors import PROBLEM_RESPONSES
from kernel.paths import SIGNED_PATHS, public_path

log = logging.getLogger("gramsetu.gateway.openapi")

HIDDEN_UPSTREAM_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_PROBLEM_SCHEMA = PROBLEM_RESPONSES[401]["content"]

SECURITY_SCHEMES: dict[str, Any] = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "A client's API key (shown once at creation)."},
    "oauth2": {"type": "oauth2", "description": "OAuth2 client credentials (RFC 6749 §4.4).",
               "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": {}}}},
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "A JWT from /oauth2/token or an operator's /auth/login."},
    "becknSignature": {"type": "apiKey", "in": "header", "name": "Authorization",
                       "description": "A Beckn network participant's signed request: `Signature keyId=\"{subscriber_id}"
                                      "|{unique_key_id}|ed25519\",...` (Ed25519 over a BLAKE2b digest of the body). "
                                      "The gateway asks no key on these paths and forwards this header as it is."},
}
_SIGNED = frozenset(path for paths in SIGNED_PATHS.values() for path in paths)
GATEWAY_RESPONSES: dict[str, Any] = {
    str(code): {"description": title, "content": _PROBLEM_SCHEMA}
    for code, title in {
        401: "Not authenticated", 403: "Missing scope", 408: "Request body too slow", 413: "Request body too large",
        429: "Rate limited", 502: "Upstream failed", 503: "Upstream unavailable", 504: "Upstream timed out",
    }.items()
}


def _rename_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                out[key] = "#/components/schemas/" + prefix + value.rsplit("/", 1)[1]
            else:
                out[key] = _rename_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, prefix) for v in node]
    return node


def mount_path(service: str, path: str, verbatim: list[str]) -> str:
    """Where an upstream path appears on the gateway (see GatewayConfig.verbatim_paths)."""
    return public_path(service, path, verbatim)


def _decorate(op: dict[str, Any], service: str, scope: str) -> dict[str, Any]:
    op = dict(op)
    op["tags"] = [service]
    if "operationId" in op:
        op["operationId"] = f"{service}__{op['operationId']}"
    op["security"] = [{"apiKey": []}, {"oauth2": [scope]}, {"bearer": []}]
    responses = dict(op.get("responses") or {})
    for code, response in GATEWAY_RESPONSES.items():
        responses.setdefault(code, response)
    op["responses"] = responses
    params = [p for p in op.get("parameters", []) if not _gateway_owned_header(p)]
    if params or "parameters" in op:
        op["parameters"] = params
    return op


def _gateway_owned_header(param: dict[str, Any]) -> bool:
    name = str(param.get("name", "")).lower()
    return param.get("in") == "header" and (name.startswith("x-gramsetu-identity") or name == "x-request-id")


def transform(service: str, spec: dict[str, Any], verbatim: list[str], scope_for: Any) -> dict[str, Any]:
    """Return {paths, schemas} of one upstream, ready to merge."""
    prefix = f"{service}__"
    spec = _rename_refs(copy.deepcopy(spec), prefix)
    paths: dict[str, Any] = {}
    for path, item in (spec.get("paths") or {}).items():
        if path in HIDDEN_UPSTREAM_PATHS:
            continue
        new_item = {}
        for method, op in item.items():
            if method in _HTTP_METHODS and isinstance(op, dict):
                if "ops" in (op.get("tags") or []):
                    continue
                new_item[method] = _decorate(op, service, scope_for(service, method.upper(), path))
                public = mount_path(service, path, verbatim)
                if roles.anonymous_permission(method.upper(), public):
                    new_item[method]["security"] = [{}]  # open to anyone (kernel.roles: anonymous)
                elif method == "post" and public in _SIGNED:
                    new_item[method]["security"] = [{"becknSignature": []}]  # the caller signs; no gateway key
            else:
                new_item[method] = op
        if any(m in _HTTP_METHODS for m in new_item):
            paths[mount_path(service, path, verbatim)] = new_item
    schemas = {prefix + name: schema for name, schema in (spec.get("components", {}).get("schemas") or {}).items()}
    return {"paths": paths, "schemas": schemas}


def path_matchers(paths: list[str]) -> list[tuple[re.Pattern[str], str]]:
    """Regexes that map a concrete gateway path back to its template (for metric labels)."""
    out = []
    for template in sorted(paths, key=lambda p: (p.count("{"), -len(p))):
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        out.append((re.compile(f"^{pattern}$"), template))
    return out


class MergedOpenAPI:
    def __init__(self, upstreams: dict[str, str], gateway_spec: Any, verbatim: dict[str, list[str]],
                 scope_for: Any, cache_seconds: float) -> None:
        self.upstreams = upstreams
        self.gateway_spec = gateway_spec  # callable returning the gateway's own FastAPI spec
        self.verbatim = verbatim
        self.scope_for = scope_for
        self.cache_seconds = cache_seconds
        self._last_good: dict[str, dict[str, Any]] = {}
        self.digests: dict[str, str] = {}  # fingerprint of each upstream document merged
        self._doc: dict[str, Any] | None = None
        self._built_at = 0.0
        self._lock = asyncio.Lock()
        self.matchers: list[tuple[re.Pattern[str], str]] = []

    # A document missing an upstream (it was starting or down) is rebuilt soon, not after the full TTL.
    INCOMPLETE_CACHE_SECONDS = 2.0

    def _fresh(self) -> bool:
        if self._doc is None:
            return False
        ttl = self.INCOMPLETE_CACHE_SECONDS if self._doc.get("x-gramsetu-unavailable") else self.cache_seconds
        return time.monotonic() - self._built_at < ttl

    async def document(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        if self._fresh():
            assert self._doc is not None
            return self._doc
        async with self._lock:
            if not self._fresh():
                self._doc = await self._build(session)
                self._built_at = time.monotonic()
        assert self._doc is not None
        return self._doc

    async def _fetch(self, session: aiohttp.ClientSession, service: str, base: str) -> dict[str, Any] | None:
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with session.get(f"{base}/openapi.json", timeout=timeout) as resp:
                if resp.status == 200:
                    spec: dict[str, Any] = await resp.json(content_type=None)
                    self._last_good[service] = spec
                    self.digests[service] = openapi_digest(spec)
                    return spec
                log.warning("openapi of %s answered %s", service, resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.warning("openapi of %s unavailable: %s", service, exc)
        return self._last_good.get(service)

    async def _build(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        names = list(self.upstreams)
        specs = await asyncio.gather(*(self._fetch(session, n, self.upstreams[n]) for n in names))
        own = copy.deepcopy(self.gateway_spec())
        doc: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": "GramSetu API", "version": own.get("info", {}).get("version", "0.1.0"),
                     "description": "Every GramSetu service behind one gateway. Authenticate with an API key, "
                                    "an OAuth2 client-credentials token or an operator login."},
            "paths": dict(own.get("paths") or {}),
            "components": {"schemas": dict(own.get("components", {}).get("schemas") or {}),
                           "securitySchemes": SECURITY_SCHEMES},
            "tags": [{"name": "gateway", "description": "Tokens, keys and administration"}],
        }
        unavailable = []
        for name, spec in zip(names, specs, strict=True):
            if spec is None:
                unavailable.append(name)
                continue
            part = transform(name, spec, self.verbatim.get(name, []), self.scope_for)
            doc["paths"].update(part["paths"])
            doc["components"]["schemas"].update(part["schemas"])
            doc["tags"].append({"name": name, "description": spec.get("info", {}).get("description", "")})
        if unavailable:
            doc["x-gramsetu-unavailable"] = unavailable
        self.matchers = path_matchers(list(doc["paths"]))
        return doc

    @property
    def complete(self) -> bool:
        """Built, and with every upstream's operations in it."""
        return self._doc is not None and not self._doc.get("x-gramsetu-unavailable")

    def outdated(self, upstream_digests: dict[str, str | None]) -> list[str]:
        """Upstreams whose current document (fingerprint from their /readyz) is not the one merged."""
        return [name for name, digest in upstream_digests.items()
                if digest is not None and digest != self.digests.get(name)]

    async def refresh(self, session: aiohttp.ClientSession, upstream_digests: dict[str, str | None]) -> bool:
        """Rebuild now if an upstream's document changed or one was missing; True if rebuilt."""
        changed = self.outdated(upstream_digests)
        if not changed and self.complete:
            return False
        if changed:
            log.info("openapi of %s changed; rebuilding the merged document", ", ".join(changed))
        async with self._lock:
            self._doc = await self._build(session)
            self._built_at = time.monotonic()
        return True

    def template(self, path: str) -> str | None:
        for pattern, template in self.matchers:
            if pattern.match(path):
                return template
        return None
