"""Fixtures for the failure drills: a private PostgreSQL and nats-server per test.

These tests crash servers, so they never touch the shared ones from ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gramsetu.embedded import EmbeddedNats, EmbeddedPostgres
from kernel.migrations import upgrade
from tests.failure.backbone import Stack, create_probe_table

MIGRATED = ("registry", "tickets")


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="gramsetu-failure-"))
    pg = EmbeddedPostgres(root / "pg")
    broker = EmbeddedNats(root / "nats")
    try:
        await asyncio.to_thread(pg.start)
        for service in MIGRATED:
            await asyncio.to_thread(upgrade, service, pg.url)
        await create_probe_table(pg.url)
        await asyncio.to_thread(broker.start)
        yield Stack(root=root, pg=pg, broker=broker)
    finally:
        await asyncio.to_thread(broker.kill)
        await asyncio.to_thread(pg.stop, "immediate")
        shutil.rmtree(root, ignore_errors=True)
