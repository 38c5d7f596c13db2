"""Settings for every GramSetu process, read from the environment with the ``GRAMSETU_`` prefix.

``DATABASE_URL`` and ``NATS_URL`` are also accepted without the prefix because that is what
operators and platforms (Heroku-style, CloudNativePG secrets) usually inject.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES: tuple[str, ...] = ("registry", "benefits", "tickets", "notify", "marketplace")
DEFAULT_PORTS: dict[str, int] = {
    "gateway": 8000,
    "registry": 8101,
    "benefits": 8102,
    "tickets": 8103,
    "notify": 8104,
    "marketplace": 8105,
}


# Services that open Runtime.statement_pool (it is opened on first use, so no other holds one).
# The registry: POST /persons/lookup; the marketplace: GET /search; tickets: POST /tickets.
STATEMENT_POOL_USERS: frozenset[str] = frozenset({"registry", "marketplace", "tickets"})


DEV_IDENTITY_SECRET = "dev-only-identity-secret-change-me"  # noqa: S105 (refused outside development below)
# Environments that may run on development defaults; every other one (staging, production,
# anything mistyped) must supply each of its secrets, non-empty and not the development value.
LOCAL_ENVIRONMENTS: frozenset[str] = frozenset({"development", "test"})


def refuse_weak_secrets(environment: str, secrets: dict[str, tuple[str | None, str | None]]) -> None:
    """``secrets``: environment variable → (value, its development default).  Raises ValueError
    naming every variable that is empty or still the development default outside development."""
    if environment in LOCAL_ENVIRONMENTS:
        return
    weak = [name for name, (value, dev) in secrets.items() if not (value or "").strip() or value == dev]
    if weak:
        raise ValueError(f"set {', '.join(weak)}: empty or development secrets are refused in the "
                         f"{environment!r} environment (only {', '.join(sorted(LOCAL_ENVIRONMENTS))} may use them)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_", env_file=".env", extra="ignore")

    environment: str = "development"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GRAMSETU_DATABASE_URL", "DATABASE_URL")
    )
    nats_url: str | None = Field(default=None, validation_alias=AliasChoices("GRAMSETU_NATS_URL", "NATS_URL"))
    data_dir: Path = Path(".gramsetu")
    log_level: str = "INFO"
    # Request sessions: the whole maximum as the pool (kept open once opened), none as overflow, which
    # SQLAlchemy closes on return while the pool is full and reopens on the next burst (deploy/k8s/base).
    db_pool_size: int = 20
    db_max_overflow: int = 0
    statement_pool_size: int = 6  # connections of Runtime.statement_pool (hot single-statement reads)
    worker_pool_size: int = 6  # asyncpg pool of the relay, consumers and scheduler (the gateway: its own)
    # Stuck sessions expire (kernel.db.session_settings): per role statement timeouts, idle transactions.
    db_statement_timeout_seconds: float = 30.0  # HTTP requests, consumers, scheduler
    db_relay_statement_timeout_seconds: float = 10.0
    # The relay's own bound on every database wait, COMMIT included (kernel.relay): longer than the
    # server's statement timeout, which normally answers first; this covers a server that cannot answer.
    db_relay_command_timeout_seconds: float = 15.0
    db_commit_timeout_seconds: float = 15.0  # consumers' and the scheduler's COMMIT (kernel.db.bounded_transaction)
    # Consumers' and the scheduler's other statements (kernel.db.bounded_transaction): longer than their
    # server-side statement timeout (db_statement_timeout_seconds), which normally answers first.
    db_worker_command_timeout_seconds: float = 35.0
    db_idle_in_transaction_timeout_seconds: float = 60.0
    db_lock_timeout_seconds: float = 5.0  # the consumer's inbox claim waits at most this for a row lock

    # Identity context: the gateway signs it with this key; services verify it.
    identity_secret: str = DEV_IDENTITY_SECRET
    identity_ttl_seconds: int = 60

    # Event backbone.
    relay_batch_size: int = 500
    relay_poll_interval_seconds: float = 0.5
    relay_publish_timeout_seconds: float = 5.0
    # The relay retries a failed batch with capped exponential backoff; the stream's duplicate
    # window must outlast that whole retry horizon so a re-published event is still recognised.
    # Capped low so events flow within seconds once PostgreSQL or NATS is back (a notification cuts it short).
    relay_max_backoff_seconds: float = 2.0
    relay_max_attempts: int = 5  # failures of a row's own (too large, corrupt, refused) before quarantine
    relay_concurrency: int = 2  # interactive-lane workers per process
    relay_bulk_concurrency: int = 1  # workers for batch rows (bulk imports), besides the interactive ones
    stream_duplicate_window_seconds: int = 600
    stream_max_age_days: int = 14
    stream_replicas: int = 1
    # Byte limits per stream (docs/ARCHITECTURE.md, "Storage sizing"): each service's interactive
    # stream, and its bulk stream (``<SERVICE>_BULK``, outbox batch rows): the registry's carries imports,
    # the benefits service's its batch and file postings.
    stream_default_max_bytes: int = 512 * 1024**2
    stream_max_bytes: dict[str, int] = {}
    stream_bulk_default_max_bytes: int = 32 * 1024**2
    stream_bulk_max_bytes: dict[str, int] = {"registry": 4 * 1024**3, "benefits": 512 * 1024**2}
    stream_dlq_max_bytes: int = 256 * 1024**2
    consumer_batch_size: int = 200
    consumer_max_deliver: int = 6
    consumer_backoff_seconds: list[float] = [1.0, 5.0, 15.0, 60.0, 300.0]
    consumer_ack_wait_seconds: float = 30.0
    consumer_concurrency: int = 2  # fetch loops per durable consumer and process
    # A caught-up consumer waits up to this long for more events to join a batch (kernel.consumer._fetch_more).
    consumer_linger_seconds: float = 0.02
    consumer_bulk_concurrency: int = 1  # fetch loops on each subscription's bulk lane (<SERVICE>_BULK)
    # The most replicas the autoscaler may run (deploy/k8s HPA/KEDA max): max_ack_pending scales with it.
    consumer_max_replicas: int = 6
    scheduler_poll_interval_seconds: float = 0.5
    scheduler_batch_size: int = 100
    run_workers: bool = True  # relay, consumers and scheduler run inside the service process

    # Every JSON request body (kernel/validation.py): larger is a 413, nested deeper a 400.
    max_json_body_bytes: int = 8 << 20
    max_json_depth: int = 32

    host: str = "127.0.0.1"
    gateway_port: int = DEFAULT_PORTS["gateway"]
    service_ports: dict[str, int] = {k: v for k, v in DEFAULT_PORTS.items() if k != "gateway"}
    service_urls: dict[str, str] = {}

    @field_validator("service_ports")
    @classmethod
    def _ports_default_per_service(cls, value: dict[str, int]) -> dict[str, int]:
        """GRAMSETU_SERVICE_PORTS may name only some services; the others keep their default port."""
        return {name: port for name, port in DEFAULT_PORTS.items() if name != "gateway"} | value

    @model_validator(mode="after")
    def _no_dev_secret_outside_development(self) -> Settings:
        refuse_weak_secrets(self.environment, {"GRAMSETU_IDENTITY_SECRET": (self.identity_secret, DEV_IDENTITY_SECRET)})
        return self

    def service_url(self, service: str) -> str:
        if service in self.service_urls:
            return self.service_urls[service]
        return f"http://{self.host}:{self.service_ports[service]}"

    @property
    def is_production(self) -> bool:
        """Anything but a local (development / test) environment is run like production."""
        return self.environment not in LOCAL_ENVIRONMENTS

    def connections_per_pod(self, component: str) -> int:
        """The most PostgreSQL connections one process of ``component`` opens: the connection
        budget's single source (deploy/k8s/cloudnativepg sizes max_connections from it)."""
        count = self.db_pool_size + self.db_max_overflow + self.worker_pool_size
        if component in STATEMENT_POOL_USERS:
            count += self.statement_pool_size
        return count


@lru_cache
def get_settings() -> Settings:
    return Settings()
