"""Hot request paths: the statement pool skips the session reset yet loses nothing; the request's
session checks its connection without a round trip; start-up
objects are kept out of the cyclic collector's full passes."""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy import text

from kernel import runtime as runtime_module
from kernel.db import make_engine
from kernel.runtime import Runtime
from services.registry.app import SPEC as REGISTRY
from services.registry.app import create_app
from tests.conftest import start_service


@pytest.fixture
def runtime(registry_runtime):
    return registry_runtime


async def test_release_costs_no_round_trip(runtime):
    pool = await runtime.statement_pool()
    assert await runtime.statement_pool() is pool  # opened once
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        sent = conn._protocol.queries_count
    async with pool.acquire() as again:
        assert await again.fetchval("SELECT pg_backend_pid()") == pid
        # Nothing ran between the two requests: the default release would have sent the reset query.
        assert again._protocol.queries_count == sent + 1


async def test_a_transaction_left_open_is_rolled_back_on_release(runtime):
    pool = await runtime.statement_pool()
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS probe (n int)")
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO probe VALUES (1)")
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM probe") == 0


async def test_the_pool_closes_with_the_runtime(clean, settings):
    rt = Runtime(REGISTRY, settings)
    await rt.start(workers=False)
    pool = await rt.statement_pool()
    await rt.stop()
    assert pool._closed


async def test_startup_objects_are_frozen_out_of_full_collections(clean, settings):
    gc.unfreeze()
    async with asynccontextmanager(start_service)(create_app, settings, workers=False) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert gc.get_freeze_count() > 10_000  # the app's modules, models and routes


async def test_stop_does_not_hang_on_a_connection_a_stuck_task_still_holds(clean, settings, monkeypatch):
    # asyncpg's pool.close() waits for every acquired connection: a task stuck while holding one
    # once made a test app's shutdown outlast its 30 s lifespan timeout.
    monkeypatch.setattr(runtime_module, "SHUTDOWN_STEP_SECONDS", 0.5)
    rt = Runtime(REGISTRY, settings)
    await rt.start(workers=False)
    assert rt.pool is not None
    pool = rt.pool
    await pool.acquire()  # never released
    started = time.monotonic()
    await asyncio.wait_for(rt.stop(), timeout=10)
    assert time.monotonic() - started < 5
    assert pool._closed


async def test_a_request_costs_no_ping_round_trip(clean, settings):
    """The request's session checks its pooled connection without asking the server (no pre-ping:
    BEGIN, ";" and ROLLBACK were three round trips before every request's own)."""
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            await conn.execute(text("SELECT 1"))
        sent = raw._protocol.queries_count
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        # BEGIN, the SELECT and the ROLLBACK on close; pool_pre_ping added BEGIN, ";", ROLLBACK.
        assert raw._protocol.queries_count - sent == 3
    finally:
        await engine.dispose()


async def test_a_pooled_connection_the_server_closed_is_replaced_not_used(clean, settings):
    """A backend killed while its connection sat in the pool (a restart, an idle timeout,
    pg_terminate_backend) is noticed at checkout: the next request gets a fresh connection, not an
    error."""
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        killer = await asyncpg.connect(settings.database_url)
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        await asyncio.sleep(0.2)  # the server's FIN reaches the idle pooled connection
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await engine.dispose()
