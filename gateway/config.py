"""Gateway-only settings (``GRAMSETU_GATEWAY_*``); shared ones live in :mod:`kernel.settings`."""

from __future__ import annotations

from pydantic import BaseModel, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.models import SERVICE_NAMES
from kernel.paths import SIGNED_PATHS, VERBATIM_PATHS
from kernel.settings import LOCAL_ENVIRONMENTS


class Limit(BaseModel):
    """A token bucket: ``capacity`` requests of burst, refilled at ``per_minute``."""

    per_minute: float
    capacity: float

    @property
    def rate_per_second(self) -> float:
        return self.per_minute / 60.0


class RouteClass(BaseModel):
    """A costly flow that gets its own, tighter bucket per client (on top of the client bucket)."""

    name: str
    service: str | None = None
    methods: list[str] = []  # empty: every method
    path_contains: list[str] = []  # empty: every path of the service
    limit: Limit


def _default_route_classes() -> list[RouteClass]:
    return [
        # Each SMS costs money and reaches a phone: a leaked key must not become a spam cannon.
        RouteClass(name="sms", service="notify", methods=["POST", "PUT", "PATCH"],
                   limit=Limit(per_minute=30, capacity=10)),
        RouteClass(name="bulk", methods=["POST", "PUT"], path_contains=["/import", "/bulk"],
                   limit=Limit(per_minute=6, capacity=2)),
        RouteClass(name="search", path_contains=["search"], limit=Limit(per_minute=120, capacity=30)),
    ]




class GatewayConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_GATEWAY_", env_file=".env", extra="ignore")

    issuer: str = "https://gramsetu.org/gateway"
    audience: str = "gramsetu"
    client_token_ttl_seconds: int = 600
    user_token_ttl_seconds: int = 3600
    signing_key_reload_seconds: float = 60.0
    # Old signing keys stay in the JWKS this long after they stop signing (> longest token TTL).
    signing_key_grace_seconds: int = 2 * 3600
    # Passphrase for the signing keys' private PEMs at rest: its own secret, so that the identity
    # secret (shared with every service) cannot also decrypt the token-signing keys.  Only a
    # development install may leave it unset (it then falls back to the identity secret).
    key_passphrase: str | None = None

    # Credential caches: how stale a revocation may be on *another* replica (this one drops at once).
    credential_cache_seconds: float = 5.0
    rotation_overlap_seconds: int = 24 * 3600

    max_body_bytes: int = 1 << 20
    max_bulk_body_bytes: int = 16 << 20
    body_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 2.0
    upstream_timeout_seconds: float = 15.0
    stream_idle_timeout_seconds: float = 300.0  # server-sent events
    route_timeouts: dict[str, float] = {}  # service name -> read timeout, overrides the default
    max_retries: int = 2
    breaker_failure_threshold: int = 5
    breaker_reset_seconds: float = 10.0
    upstream_connection_limit: int = 256
    # Idle upstream connections are dropped before the upstream drops them (uvicorn: 5 s), so a
    # request is never written to a connection the service is closing (a POST is not retried: 502).
    upstream_keepalive_seconds: float = 4.0

    default_limit: Limit = Limit(per_minute=1200, capacity=200)
    # Password guessing is throttled per account *and source*: a stranger guessing from elsewhere
    # cannot lock an operator out; each source also has a ceiling across all the names it tries.
    login_limit: Limit = Limit(per_minute=10, capacity=5)
    login_source_limit: Limit = Limit(per_minute=120, capacity=60)
    # Routes the role table opens to anyone (kernel.roles, ``anonymous``: the tickets status page a
    # citizen reaches from an SMS link): a call with no credential is limited per source address.
    anonymous_limit: Limit = Limit(per_minute=30, capacity=10)
    # Peers (an ingress, a load balancer) whose X-Forwarded-For names the real source of a login;
    # from anyone else the header is ignored (it is the caller's to forge).
    trusted_proxies: list[str] = []
    route_classes: list[RouteClass] = _default_route_classes()
    # Leases: a replica takes this share of a bucket's capacity per round trip to PostgreSQL.
    lease_fraction: float = 0.1
    lease_max: int = 100
    lease_seconds: float = 2.0
    # Bounded state: local buckets beyond this many are evicted (idle ones first), and shared rows
    # idle this long are deleted (by then any bucket has refilled, and a missing row starts full).
    max_local_buckets: int = 20_000
    rate_bucket_idle_seconds: float = 3600.0
    rate_bucket_sweep_seconds: float = 300.0

    # Client names allowed as a metrics label (bounded cardinality); others count as "other".
    metrics_clients: list[str] = []
    openapi_cache_seconds: float = 60.0
    # How often the gateway asks each service's /readyz whether its OpenAPI changed (see openapi.py).
    openapi_watch_seconds: float = 5.0
    # /readyz: ready only when every upstream answers ready and the merged document is complete.
    # False: ready as soon as the gateway's own database answers (upstreams are still reported).
    ready_requires_upstreams: bool = True
    # The services this gateway fronts (default: all of them).  `gramsetu up -s registry -s gateway`
    # narrows it to what it started, so /readyz and the merged document ask only those, and a path of
    # a service left out answers 404 route-not-found instead of waiting on a server that is not there.
    services: list[str] = list(SERVICE_NAMES)

    @field_validator("services")
    @classmethod
    def _known_services(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SERVICE_NAMES))
        if unknown:
            raise ValueError(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICE_NAMES)}")
        return value
    # DCI (SPDCI) endpoints are standards-shaped: the registry serves them at ``/registry/...`` itself,
    # so these exact paths are forwarded without stripping the mount prefix (kernel/paths.py; the
    # services build their links from the same table).
    verbatim_paths: dict[str, list[str]] = {service: list(paths) for service, paths in VERBATIM_PATHS.items()}
    # Exact paths (POST) whose callers sign their own requests and are verified by the service (the
    # Beckn BPP): no key or token asked, the ``Authorization: Signature ...`` header forwarded.
    signed_paths: dict[str, list[str]] = {service: list(paths) for service, paths in SIGNED_PATHS.items()}

    def check_environment(self, environment: str) -> None:
        """Refuse to start outside development without the signing keys' own passphrase."""
        if environment not in LOCAL_ENVIRONMENTS and not (self.key_passphrase or "").strip():
            raise RuntimeError(f"set GRAMSETU_GATEWAY_KEY_PASSPHRASE: required in the {environment!r} environment")
