"""Hot request paths: the statement pool skips the session reset yet loses nothing; start-up
objects are kept out of the cyclic collector's full passes."""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import asynccontextmanager

import pytest

from kernel import runtime as runtime_module
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
