"""Shared fixtures: real PostgreSQL and real NATS JetStream, isolated per xdist worker.

* PostgreSQL: the server at ``GRAMSETU_TEST_DATABASE_URL`` (default: the machine's
  127.0.0.1:5432), or an embedded one if that does not answer.  Each xdist worker gets its
  own database ``gramsetu_test_<worker>``, migrated once; each test starts from empty tables.
* NATS: each worker starts its own nats-server with JetStream on a free port (a server per
  worker is the broker's equivalent of a database per worker: streams and durable consumer
  names cannot collide), unless ``GRAMSETU_TEST_NATS_URL`` names one.  Streams are deleted
  before each test that asks for a clean bus.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("GRAMSETU_IDENTITY_SECRET", "test-identity-secret")

import asyncpg
import httpx
import nats
import pytest
from asgi_lifespan import LifespanManager

from gramsetu.embedded import EmbeddedNats, EmbeddedPostgres, port_open
from kernel.auth import Identity, sign_identity
from kernel.migrations import upgrade
from kernel.settings import SERVICES, Settings, get_settings

MIGRATED = [*SERVICES]
if (Path(__file__).resolve().parent.parent / "gateway" / "migrations" / "env.py").exists():
    MIGRATED.append("gateway")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    """A directory for embedded servers, outside pytest's own temporary tree.

    As root, the embedded PostgreSQL runs as the postgres user, which must traverse every parent
    of its data directory. pytest sets its per-user root (/tmp/pytest-of-root) back to 0700 whenever
    an xdist worker first asks for tmp_path, so a data directory under tmp_path fails initdb with
    "Permission denied" when another worker does that at the wrong moment.
    """
    path = Path(tempfile.mkdtemp(prefix="gramsetu-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("GRAMSETU_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parsed = urlparse(url)
    if port_open(parsed.hostname or "127.0.0.1", parsed.port or 5432):
        yield url
        return
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix=f"gramsetu-test-pg-{_worker()}-"))).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> str:
    # A prefix of one's own lets two suites run at once on one server without dropping each other's databases.
    name = f"{os.environ.get('GRAMSETU_TEST_DB_PREFIX', 'gramsetu_test')}_{_worker()}"

    async def recreate() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    parsed = urlparse(pg_server_url)
    url = parsed._replace(path=f"/{name}").geturl()
    for service in MIGRATED:
        upgrade(service, url)
    return url


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    given = os.environ.get("GRAMSETU_TEST_NATS_URL")
    if given:
        yield given
        return
    server = EmbeddedNats(Path(tempfile.mkdtemp(prefix=f"gramsetu-test-nats-{_worker()}-"))).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, nats_url: str) -> Settings:
    """Settings for services under test: fast polling, short backoffs."""
    return Settings(
        database_url=database_url,
        nats_url=nats_url,
        identity_secret=get_settings().identity_secret,
        relay_poll_interval_seconds=0.05,
        scheduler_poll_interval_seconds=0.05,
        consumer_backoff_seconds=[0.05, 0.1, 0.2, 0.4, 0.8],
        consumer_max_deliver=4,
        consumer_ack_wait_seconds=2.0,
        stream_duplicate_window_seconds=120,
    )


async def _execute_past_deadlocks(conn: asyncpg.Connection, statement: str) -> None:
    """Run ``statement`` in a transaction, again after a deadlock: a session-scoped server of an earlier
    test (notify, with the Twilio stand-in posting status callbacks late) can hold one table while
    wanting another."""
    for attempt in range(5):
        try:
            async with conn.transaction():
                await conn.execute(statement)
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)


async def truncate(conn: asyncpg.Connection, tables: list[str]) -> None:
    await _execute_past_deadlocks(conn, f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


async def _truncate_all(database_url: str) -> None:
    """Empty every service table and restart every sequence, in one transaction.

    DELETE with foreign-key triggers off (``session_replication_role = replica``), not TRUNCATE: a
    TRUNCATE of the ~130 tables swaps ~400 files and took 0.35 s idle and 3-4 s on a loaded machine,
    before every test; this takes about 25 ms.  Other triggers are off too, which is what a reset wants
    (the tickets' open-count trigger would otherwise count the deleted tickets)."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1::text[]) "
            "AND tablename <> 'alembic_version'",
            MIGRATED,
        )
        sequences = await conn.fetch(
            "SELECT schemaname, sequencename FROM pg_sequences WHERE schemaname = ANY($1::text[])", MIGRATED
        )
        statement = "SET LOCAL session_replication_role = replica;" + "".join(
            f'DELETE FROM "{t["schemaname"]}"."{t["tablename"]}";' for t in tables
        ) + "".join(f'ALTER SEQUENCE "{q["schemaname"]}"."{q["sequencename"]}" RESTART;' for q in sequences)
        await _execute_past_deadlocks(conn, statement)
    finally:
        await conn.close()


async def _delete_streams(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for name in await js.streams_info():
            if name.config.name:
                await js.delete_stream(name.config.name)
    finally:
        await nc.close()


@pytest.fixture
async def clean(database_url: str, nats_url: str) -> None:
    """Empty tables and no streams: every test starts from nothing."""
    await _truncate_all(database_url)
    await _delete_streams(nats_url)


def identity_headers(
    *,
    scopes: list[str] | None = None,
    area_scope: list[str] | None = None,
    roles: list[str] | None = None,
    subject: str = "test-user",
    kind: str = "user",
) -> dict[str, str]:
    """Headers as the gateway would forward them for this caller."""
    # An hour, not the gateway's 60 s: a fixture's headers outlive a slow test on a loaded machine.
    identity = Identity(
        subject=subject, kind=kind, roles=roles or ["admin"], scopes=scopes if scopes is not None else ["*"],
        area_scope=area_scope if area_scope is not None else ["IN", "BD"], expires_at=time.time() + 3600,
    )
    return sign_identity(identity, get_settings().identity_secret)


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return identity_headers()


async def start_service(create_app: object, settings: Settings, **kwargs: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, **kwargs)  # type: ignore[operator]
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def registry_runtime(clean: None, settings: Settings) -> AsyncIterator[object]:
    """The registry's runtime (database, pools, NATS) without its background workers."""
    from kernel.runtime import Runtime
    from services.registry.app import SPEC

    runtime = Runtime(SPEC, settings)
    await runtime.start(workers=False)
    yield runtime
    await runtime.stop()


@pytest.fixture
async def registry_client(clean: None, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from services.registry.app import create_app

    async for client in start_service(create_app, settings):
        yield client
