"""The ``gramsetu`` CLI against the test PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import asyncpg
import nats
import pytest
from nats.js.api import ConsumerConfig
from typer.testing import CliRunner

from contracts.registry import AreaCreated
from gramsetu.cli import app
from gramsetu.embedded import free_port
from kernel.bus import DLQ_STREAM, ensure_streams
from kernel.dlq import park
from kernel.outbox import envelope_for
from kernel.settings import SERVICES, Settings

runner = CliRunner()


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    # Nothing listens on these ports, so every service reads as down unless a test starts one.
    nowhere = {name: f"http://127.0.0.1:{free_port()}" for name in SERVICES}
    return {
        "GRAMSETU_DATABASE_URL": settings.database_url or "",
        "GRAMSETU_NATS_URL": settings.nats_url or "",
        "GRAMSETU_SERVICE_URLS": json.dumps(nowhere),
        "GRAMSETU_GATEWAY_PORT": str(free_port()),
        **extra,
    }


def _area_event(code: str) -> bytes:
    event = AreaCreated(code=code, parent_code=None, level="state", name="Test", version=1)
    return envelope_for(event, source="registry").model_dump_json().encode()


@pytest.fixture
def fresh_database(pg_server_url: str) -> Iterator[str]:
    name = f"gramsetu_cli_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:6]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield urlparse(pg_server_url)._replace(path=f"/{name}").geturl()
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_migrate_applies_only_the_named_services(fresh_database: str, settings: Settings) -> None:
    env = _env(settings, GRAMSETU_DATABASE_URL=fresh_database)
    result = runner.invoke(app, ["migrate", "registry", "tickets"], env=env)
    assert result.exit_code == 0, result.output
    assert "migrated registry" in result.output and "migrated tickets" in result.output

    async def schemas() -> set[str]:
        conn = await asyncpg.connect(fresh_database)
        try:
            rows = await conn.fetch("SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'")
            return {r["table_schema"] for r in rows}
        finally:
            await conn.close()

    assert asyncio.run(schemas()) == {"registry", "tickets"}
    again = runner.invoke(app, ["migrate", "registry"], env=env)  # idempotent
    assert again.exit_code == 0, again.output


def test_migrate_rejects_an_unknown_service(settings: Settings) -> None:
    result = runner.invoke(app, ["migrate", "payroll"], env=_env(settings))
    assert result.exit_code == 2
    assert "payroll" in result.output


async def _prepare_backlog(settings: Settings) -> None:
    """One unpublished outbox row in tickets; three REGISTRY messages, one fetched and not acked."""
    assert settings.database_url and settings.nats_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO tickets.outbox (id, subject, payload, created_at) "
            "VALUES ($1, 'tickets.ticket.created.v1', '{}'::jsonb, clock_timestamp() - interval '90 seconds')",
            uuid.uuid4(),
        )
    finally:
        await conn.close()
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, settings)
        for i in range(3):
            await js.publish("registry.area.created.v1", _area_event(f"IN-{i + 1}"))
        psub = await js.pull_subscribe(
            "registry.>", durable="cli-status-probe", stream="REGISTRY", config=ConsumerConfig(ack_wait=60)
        )
        fetched = await psub.fetch(1, timeout=5)
        assert len(fetched) == 1
    finally:
        await nc.close()


def test_status_json_reports_backlog_streams_and_consumer_lag(clean: None, settings: Settings) -> None:
    asyncio.run(_prepare_backlog(settings))
    result = runner.invoke(app, ["status", "--json"], env=_env(settings))
    assert result.exit_code == 1, result.output  # no service is running, so the stack is not healthy
    report = json.loads(result.stdout)
    assert report["database"] == {"ok": True, "error": None}
    assert report["nats"] == {"ok": True, "error": None}
    services = {s["name"]: s for s in report["services"]}
    assert set(SERVICES) <= set(services)
    assert not any(s["ready"] for s in services.values())
    assert services["tickets"]["outbox_backlog"] == 1
    assert services["tickets"]["outbox_oldest_age_seconds"] >= 90
    assert services["registry"]["outbox_backlog"] == 0
    assert services["registry"]["outbox_oldest_age_seconds"] is None
    streams = {s["name"]: s for s in report["streams"]}
    assert streams["REGISTRY"]["messages"] == 3
    assert streams[DLQ_STREAM]["messages"] == 0
    (probe,) = [c for c in report["consumers"] if c["name"] == "cli-status-probe"]
    assert probe == {"stream": "REGISTRY", "name": "cli-status-probe", "num_pending": 2,
                     "num_ack_pending": 1, "num_redelivered": 0}
    assert report["dlq_size"] == 0


def test_status_reports_an_unreachable_database_and_broker(settings: Settings) -> None:
    dead_pg = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    dead_nats = f"nats://127.0.0.1:{free_port()}"
    result = runner.invoke(
        app, ["status", "--json"], env=_env(settings, GRAMSETU_DATABASE_URL=dead_pg, GRAMSETU_NATS_URL=dead_nats)
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["database"]["ok"] is False and report["database"]["error"]
    assert report["nats"]["ok"] is False and report["nats"]["error"]
    table = runner.invoke(app, ["status"], env=_env(settings, GRAMSETU_DATABASE_URL=dead_pg,
                                                     GRAMSETU_NATS_URL=dead_nats))
    assert table.exit_code == 1
    assert "registry" in table.stdout and "down" in table.stdout


async def _park_one(settings: Settings) -> None:
    assert settings.nats_url
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, settings)
        await js.publish("registry.area.created.v1", _area_event("BD-40"))
        psub = await js.pull_subscribe("registry.>", durable="tickets-cli-test", stream="REGISTRY")
        (msg,) = await psub.fetch(1, timeout=5)
        await park(js, service="tickets", consumer="tickets-cli-test", msg=msg, reason="handler failed: boom")
        await msg.ack()
    finally:
        await nc.close()


async def _stream_messages(settings: Settings, stream: str) -> int:
    assert settings.nats_url
    nc = await nats.connect(settings.nats_url)
    try:
        return int((await nc.jetstream().stream_info(stream)).state.messages)
    finally:
        await nc.close()


def test_dlq_list_and_replay(clean: None, settings: Settings) -> None:
    asyncio.run(_park_one(settings))
    env = _env(settings)
    listed = runner.invoke(app, ["dlq", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (parked,) = json.loads(listed.stdout)
    assert parked["subject"] == "registry.area.created.v1"
    assert parked["consumer"] == "tickets-cli-test"
    assert parked["reason"] == "handler failed: boom"
    assert parked["source"] == "dlq"

    table = runner.invoke(app, ["dlq", "list"], env=env)
    assert table.exit_code == 0 and "Dead-lettered events (1)" in table.stdout

    replayed = runner.invoke(app, ["dlq", "replay", str(parked["seq"])], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "registry.area.created.v1" in replayed.stdout
    assert asyncio.run(_stream_messages(settings, "REGISTRY")) == 2  # the original plus the replay
    assert asyncio.run(_stream_messages(settings, DLQ_STREAM)) == 0

    gone = runner.invoke(app, ["dlq", "replay", str(parked["seq"])], env=env)
    assert gone.exit_code == 1
    bad_source = runner.invoke(app, ["dlq", "replay", "1", "--source", "elsewhere"], env=env)
    assert bad_source.exit_code == 2


def test_serve_refuses_to_start_without_a_database(settings: Settings) -> None:
    env = {k: "" for k in ("GRAMSETU_DATABASE_URL", "DATABASE_URL", "GRAMSETU_NATS_URL", "NATS_URL")}
    result = runner.invoke(app, ["serve", "registry"], env=env)
    assert result.exit_code == 2
    assert "DATABASE_URL" in result.output
    unknown = runner.invoke(app, ["serve", "payroll"], env=_env(settings))
    assert unknown.exit_code == 2


def test_outbox_list_retry_and_drop_quarantined_rows(clean: None, settings: Settings) -> None:
    assert settings.database_url
    ids = [uuid.uuid4(), uuid.uuid4()]

    async def quarantine() -> None:
        conn = await asyncpg.connect(settings.database_url)
        try:
            for row_id in ids:
                await conn.execute(
                    "INSERT INTO registry.outbox_quarantine (id, seq, subject, payload, created_at, attempts, last_error) "
                    "VALUES ($1, 1, 'registry.area.created.v1', '{}'::jsonb, now(), 5, 'too_large: ...')", row_id)
        finally:
            await conn.close()

    asyncio.run(quarantine())
    env = _env(settings)
    listed = runner.invoke(app, ["outbox", "list", "--json", "--service", "registry"], env=env)
    assert listed.exit_code == 0, listed.output
    assert {row["id"] for row in json.loads(listed.output)} == {str(i) for i in ids}
    assert "Quarantined outbox rows (2)" in runner.invoke(app, ["outbox", "list"], env=env).output
    retried = runner.invoke(app, ["outbox", "retry", str(ids[0])], env=env)
    assert retried.exit_code == 0 and "1 rows back in the outbox" in retried.output
    dropped = runner.invoke(app, ["outbox", "drop", str(ids[1])], env=env)
    assert dropped.exit_code == 0 and "1 rows dropped" in dropped.output
    assert json.loads(runner.invoke(app, ["outbox", "list", "--json"], env=env).output) == []
    assert runner.invoke(app, ["outbox", "retry"], env=env).exit_code == 2
    assert runner.invoke(app, ["outbox", "drop", "not-a-uuid"], env=env).exit_code == 2
