"""Gateway metrics: RED per route template and per (bounded) client, upstream health, refusals."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter(
    "gramsetu_gateway_requests_total", "Requests answered by the gateway",
    ["route", "method", "status", "client"],
)
DURATION = Histogram(
    "gramsetu_gateway_request_duration_seconds", "Time from request to response end, by route template",
    ["route", "method"], buckets=_BUCKETS,
)
UPSTREAM_DURATION = Histogram(
    "gramsetu_gateway_upstream_duration_seconds", "Time until the upstream's response headers",
    ["upstream"], buckets=_BUCKETS,
)
UPSTREAM_FAILURES = Counter(
    "gramsetu_gateway_upstream_failures_total", "Upstream calls that failed, by reason",
    ["upstream", "reason"],
)
UPSTREAM_RETRIES = Counter("gramsetu_gateway_upstream_retries_total", "Idempotent calls retried", ["upstream"])
CIRCUIT_OPEN = Gauge("gramsetu_gateway_circuit_open", "1 while the upstream's circuit breaker is open", ["upstream"])
RATE_LIMITED = Counter(
    "gramsetu_gateway_rate_limited_total", "Requests refused with 429, by route class and client",
    ["route_class", "client"],
)
AUTH_FAILURES = Counter(
    "gramsetu_gateway_auth_failures_total", "Refused authentications and authorisations, by reason",
    ["reason"],
)


class ClientLabel:
    """Only allow-listed client names become label values: label cardinality stays bounded."""

    def __init__(self, allowed: list[str]) -> None:
        self.allowed = frozenset(allowed)

    def __call__(self, name: str | None) -> str:
        if not name or name == "anonymous":  # no credential (a route open to anyone)
            return "anonymous"
        return name if name in self.allowed else "other"
