"""Prometheus metrics shared by every service (names follow Prometheus conventions).

Labels never carry IDs: ``route`` is the route template (``/areas/{code}``), not the path.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "gramsetu_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "gramsetu_http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_PROGRESS = Gauge("gramsetu_http_requests_in_progress", "HTTP requests in flight", ["service"])

OUTBOX_BACKLOG = Gauge("gramsetu_outbox_backlog_events", "Events written but not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "gramsetu_outbox_oldest_event_age_seconds", "Age of the oldest unpublished event", ["service"]
)
EVENTS_PUBLISHED = Counter(
    "gramsetu_events_published_total", "Events published to JetStream by the relay", ["service", "subject"]
)
EVENTS_PUBLISH_DUPLICATES = Counter(
    "gramsetu_events_publish_duplicates_total",
    "Publishes JetStream dropped as duplicates (relay retried after a crash or lost ack)",
    ["service"],
)
EVENT_PUBLISH_FAILURES = Counter(
    "gramsetu_event_publish_failures_total", "Relay batches that failed to publish", ["service"]
)
EVENTS_CONSUMED = Counter(
    "gramsetu_events_consumed_total",
    "Events handled by consumers, by outcome (applied, duplicate, stale, retry, dead_lettered)",
    ["service", "consumer", "outcome"],
)
EVENT_REDELIVERIES = Counter(
    "gramsetu_event_redeliveries_total", "Deliveries that were not the first", ["service", "consumer"]
)
EVENT_HANDLE_DURATION = Histogram(
    "gramsetu_event_handle_duration_seconds", "Time to apply one fetched batch", ["service", "consumer"]
)
CONSUMER_LAG = Gauge(
    "gramsetu_consumer_lag_events", "Messages not yet delivered to the consumer", ["service", "consumer"]
)
CONSUMER_ACK_PENDING = Gauge(
    "gramsetu_consumer_ack_pending_events", "Delivered messages awaiting ack", ["service", "consumer"]
)
EVENT_PUBLISH_ERRORS = Counter(
    "gramsetu_event_publish_errors_total",
    "Events JetStream did not acknowledge, by reason (timeout, storage_full, api_<code>, too_large, disconnected, ...)",
    ["service", "reason"],
)
RELAY_DATABASE_TIMEOUTS = Counter(
    "gramsetu_relay_database_timeouts_total",
    "Relay database waits that ran out (step: statement, commit, release); the connection was ended and "
    "its rows are published again",
    ["service", "step"],
)
OUTBOX_QUARANTINED = Counter(
    "gramsetu_outbox_quarantined_total", "Outbox rows moved to the quarantine after repeated publish failures",
    ["service"],
)
OUTBOX_QUARANTINE_ROWS = Gauge(
    "gramsetu_outbox_quarantine_rows", "Outbox rows waiting in the quarantine for an operator", ["service"]
)
OUTBOX_DUPLICATE_WINDOW = Gauge(
    "gramsetu_outbox_duplicate_window_seconds", "The streams' duplicate window (for alerting on the oldest row's age)",
    ["service"],
)
STREAM_BYTES = Gauge("gramsetu_stream_bytes", "Bytes stored in a JetStream stream", ["stream"])
STREAM_MAX_BYTES = Gauge("gramsetu_stream_max_bytes", "A stream's byte limit (max_bytes)", ["stream"])
STREAM_MESSAGES = Gauge("gramsetu_stream_messages", "Messages stored in a JetStream stream", ["stream"])
EXTERNAL_EFFECTS = Counter(
    "gramsetu_external_effects_total",
    "External side effects by outcome (sent, already_sent, error, failed)",
    ["service", "kind", "outcome"],
)
SCHEDULER_TAKEOVERS = Counter(
    "gramsetu_scheduler_lease_takeovers_total", "Jobs claimed after another worker's lease expired", ["service"]
)
DLQ_EVENTS = Gauge("gramsetu_dlq_events", "Messages parked in the dead-letter stream", ["service"])
SCHEDULER_DUE = Gauge("gramsetu_scheduler_due_jobs", "Jobs due now and not yet run", ["service"])
SCHEDULER_RUNS = Counter(
    "gramsetu_scheduler_job_runs_total", "Scheduled job runs by kind and outcome", ["service", "kind", "outcome"]
)
SCHEDULER_LATENESS = Histogram(
    "gramsetu_scheduler_job_lateness_seconds",
    "How long after its due time a job ran",
    ["service"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)


def _route_template(scope: Scope) -> str:
    """The matched route's template; Starlette/FastAPI record the matched route in the scope."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template:
        return str(template)
    app = scope.get("app")
    router = getattr(app, "router", None)
    for route in getattr(router, "routes", []):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


class MetricsMiddleware:
    """RED metrics: rate and errors by status, duration by route template.

    The labelled children are looked up once per (method, route, status) and kept: ``.labels()``
    builds and checks the label tuple under a lock on every call, three times a request.  Routes
    are templates and statuses a few dozen values, so the cache stays small."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._in_progress = HTTP_IN_PROGRESS.labels(service)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        series = self._children.get(key)
        if series is None:
            series = self._children[key] = (HTTP_REQUESTS.labels(self.service, method, route, str(status)),
                                            HTTP_DURATION.labels(self.service, method, route))
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._in_progress.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._in_progress.dec()
            requests, duration = self._series(scope["method"], _route_template(scope), status)
            requests.inc()
            duration.observe(time.perf_counter() - started)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
