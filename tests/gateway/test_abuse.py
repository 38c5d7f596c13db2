"""Access and abuse: login throttling per account *and* source, bounded limiter state, secrets
refused outside development, identity verified with the app's own settings."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from gateway.config import GatewayConfig, Limit
from gateway.ratelimit import SharedRateLimiter
from kernel.auth import Identity, sign_identity
from kernel.settings import DEV_IDENTITY_SECRET, Settings
from tests.conftest import start_service
from tests.gateway.conftest import Stack


def _from(stack: Stack, source: str) -> httpx.AsyncClient:
    """A client whose TCP connections come from ``source`` (any 127.0.0.0/8 address is local)."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=stack.gateway_url, transport=transport, timeout=30)


async def _guess_until_refused(http: httpx.AsyncClient, username: str, attempts: int) -> list[int]:
    codes = []
    for _ in range(attempts):
        r = await http.post("/auth/login", json={"username": username, "password": "bad-password-x"})
        codes.append(r.status_code)
        if r.status_code == 429:
            break
    return codes


async def test_guessing_from_one_source_does_not_lock_the_operator_out_elsewhere(stack: Stack) -> None:
    username, password = await stack.new_user(["auditor"], ["IN"])
    capacity = int(stack.config.login_limit.capacity)
    async with _from(stack, "127.0.0.2") as attacker, _from(stack, "127.0.0.3") as operator:
        codes = await _guess_until_refused(attacker, username, 2 * capacity + 2)
        assert codes[-1] == 429 and set(codes[:-1]) == {401}
        r = await attacker.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even the right password, there
        r = await operator.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text


async def test_a_source_spraying_many_names_meets_its_own_ceiling(stack: Stack) -> None:
    default = stack.config.login_source_limit
    stack.config.login_source_limit = Limit(per_minute=1, capacity=4)  # read per request: small for the test
    try:
        async with _from(stack, "127.0.0.5") as sprayer, _from(stack, "127.0.0.6") as other:
            codes = []
            for _ in range(8):
                r = await sprayer.post("/auth/login", json={"username": f"nobody-{uuid.uuid4().hex[:8]}",
                                                            "password": "bad-password-x"})
                codes.append(r.status_code)
            assert codes[:4] == [401] * 4 and codes[-1] == 429  # each name new, the source the same
            r = await other.post("/auth/login", json={"username": "nobody-else", "password": "bad-password-x"})
            assert r.status_code == 401  # another source is not affected
    finally:
        stack.config.login_source_limit = default


async def test_local_buckets_stay_bounded_and_idle_shared_rows_are_swept(database_url: str) -> None:
    config = GatewayConfig(max_local_buckets=50, rate_bucket_idle_seconds=60, lease_seconds=0.0)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        limiter = SharedRateLimiter(pool, config)
        limit = Limit(per_minute=10, capacity=5)
        prefix = f"login:probe-{uuid.uuid4().hex[:6]}"
        for i in range(400):  # random usernames, as a sprayer would send
            assert (await limiter.take(f"{prefix}-{i}", limit)).allowed
            assert len(limiter._buckets) <= config.max_local_buckets
        stored = await pool.fetchval("SELECT count(*) FROM gateway.rate_bucket WHERE key LIKE $1", prefix + "%")
        assert stored == 400
        await pool.execute("UPDATE gateway.rate_bucket SET updated_at = now() - interval '2 hours' "
                           "WHERE key LIKE $1 AND key < $2", prefix + "%", f"{prefix}-2")
        old = await pool.fetchval("SELECT count(*) FROM gateway.rate_bucket WHERE key LIKE $1 AND key < $2",
                                  prefix + "%", f"{prefix}-2")
        assert old > 0
        assert await limiter.sweep(batch=7) >= old
        left = await pool.fetchval("SELECT count(*) FROM gateway.rate_bucket WHERE key LIKE $1", prefix + "%")
        assert left == 400 - old  # the recently used buckets stay
        # A swept bucket starts full again, which is where it was.
        assert (await limiter.take(f"{prefix}-1", limit)).allowed
    finally:
        await pool.close()


def test_idle_horizon_outlasts_every_refill() -> None:
    config = GatewayConfig(rate_bucket_idle_seconds=1, login_limit=Limit(per_minute=1, capacity=30))
    assert SharedRateLimiter(None, config).idle_horizon() >= 30 * 60


@pytest.mark.parametrize("environment", ["staging", "production", "prod", "qa"])
@pytest.mark.parametrize("secret", [DEV_IDENTITY_SECRET, "", "   "])
def test_development_and_empty_secrets_are_refused_outside_development(environment: str, secret: str) -> None:
    with pytest.raises(ValidationError, match="GRAMSETU_IDENTITY_SECRET"):
        Settings(environment=environment, identity_secret=secret)


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_may_use_development_secrets(environment: str) -> None:
    assert Settings(environment=environment, identity_secret=DEV_IDENTITY_SECRET).identity_secret


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_registry_keys_are_refused_outside_development(environment: str) -> None:
    from services.registry.settings import RegistrySettings
    from services.registry.settings_dci import DciSettings

    with pytest.raises(RuntimeError, match="GRAMSETU_REGISTRY_ID_HMAC_KEY"):
        RegistrySettings().check_production(environment)
    with pytest.raises(RuntimeError, match="GRAMSETU_REGISTRY_ID_ENCRYPTION_KEY"):
        RegistrySettings(id_hmac_key="a-real-key-from-a-secret").check_production(environment)
    with pytest.raises(RuntimeError, match="GRAMSETU_REGISTRY_DCI_SIGNING_KEY"):
        DciSettings(signing_key="").check_production(environment)
    RegistrySettings().check_production("development")


async def test_a_service_verifies_identity_with_the_settings_it_was_created_with(settings: Settings) -> None:
    from services.registry.app import create_app

    own = settings.model_copy(update={"identity_secret": "this-apps-own-identity-secret-" + uuid.uuid4().hex})
    caller = Identity(subject="u", kind="user", scopes=["*"], area_scope=["IN"], roles=["admin"])
    async for client in start_service(create_app, own, workers=False):
        r = await client.get("/areas/IN", headers=sign_identity(caller, own.identity_secret, ttl_seconds=60))
        assert r.status_code in (200, 404), r.text  # authenticated (the area may not exist)
        r = await client.get("/areas/IN", headers=sign_identity(caller, settings.identity_secret, ttl_seconds=60))
        assert r.status_code == 401  # the process-wide secret is not this app's
        forged = sign_identity(caller, own.identity_secret, ttl_seconds=60)
        bad = {**forged, "X-GramSetu-Identity-Signature": "é" * 64}
        r = await client.get("/areas/IN", headers={k: v.encode() for k, v in bad.items()})
        assert r.status_code == 401  # non-ASCII signature: refused, not a 500
