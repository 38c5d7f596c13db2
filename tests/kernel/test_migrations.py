"""Every service's migration tree has one head and upgrades/downgrades cleanly on core PostgreSQL."""

import asyncio
import os
from urllib.parse import urlparse

import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from kernel.migrations import alembic_config
from tests.conftest import MIGRATED


@pytest.mark.parametrize("service", MIGRATED)
def test_single_head(service):
    script = ScriptDirectory.from_config(alembic_config(service, "postgresql://unused/x"))
    assert len(script.get_heads()) == 1, f"{service} has unmerged heads: {script.get_heads()}"


def test_upgrade_downgrade_round_trip(pg_server_url):
    name = f"gramsetu_migration_round_trip_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"

    async def recreate() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    url = urlparse(pg_server_url)._replace(path=f"/{name}").geturl()
    for service in MIGRATED:
        cfg = alembic_config(service, url)
        command.upgrade(cfg, "head")
        command.downgrade(cfg, "base")
        command.upgrade(cfg, "head")
