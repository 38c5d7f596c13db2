"""The stack supervisor and the demo data, with real processes, PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx
import pytest

from gramsetu.demo import DEMO_AREAS, demo_loaders, load_service_demos
from gramsetu.embedded import free_port
from gramsetu.stack import Child, EmbeddedServers, Supervisor, embedded_urls
from kernel.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


async def test_demo_data_is_idempotent_and_goes_through_the_outbox(clean: None, settings: Settings) -> None:
    first = await load_service_demos(settings, ["registry"])
    assert first["registry"]["areas"] == len(DEMO_AREAS)
    assert first["registry"]["households"] > 0
    again = await load_service_demos(settings, ["registry"])
    assert again["registry"] == {"areas": 0, "households": 0}
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        areas = {r["code"]: r for r in await conn.fetch("SELECT code, level, name_local FROM registry.area")}
        events = await conn.fetchval(
            "SELECT count(*) FROM registry.outbox WHERE subject = 'registry.area.created.v1'"
        )
    finally:
        await conn.close()
    assert set(areas) == {a.code for a in DEMO_AREAS}
    assert areas["BD-40-87-90"]["name_local"] == "তালা"
    assert areas["BD-40-87-90-54-08"]["level"] == "ward"
    assert areas["IN-23-0456-2210-123456-654321"]["level"] == "village"
    assert events == len(DEMO_AREAS)  # each area's event waits in the outbox for the relay


def test_up_loads_the_demo_data_of_every_service_that_has_one() -> None:
    """A service gains demo data in `make run` by adding services/<svc>/demo with load_demo, nothing else."""
    from kernel.settings import SERVICES

    with_demo = {p.parent.parent.name for p in (ROOT / "services").glob("*/demo/__init__.py")}
    assert "registry" in with_demo
    loaders = demo_loaders(list(SERVICES))
    assert {name for name, _ in loaders} == with_demo
    assert loaders[0][0] == "registry"  # areas first: other services' data lives in them


def test_embedded_servers_keep_their_ports_and_data_across_restarts(embedded_dir: Path) -> None:
    async def write(url: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        finally:
            await conn.close()

    async def read(url: str) -> str:
        conn = await asyncpg.connect(url)
        try:
            return str(await conn.fetchval("SELECT v FROM kept"))
        finally:
            await conn.close()

    first = EmbeddedServers(embedded_dir / "data").start()
    try:
        urls = (first.database_url, first.nats_url)
        assert urls == embedded_urls(embedded_dir / "data")
        assert urlparse(first.database_url).port not in (5432, None)
        asyncio.run(write(first.database_url))
    finally:
        first.stop()
    assert embedded_urls(embedded_dir / "data") == (None, None)  # nothing answers any more
    second = EmbeddedServers(embedded_dir / "data").start()
    try:
        assert (second.database_url, second.nats_url) == urls
        assert asyncio.run(read(second.database_url)) == "still here"
    finally:
        second.stop()


def test_supervisor_restarts_a_crashing_child_with_growing_backoff(caplog: pytest.LogCaptureFixture) -> None:
    child = Child(name="flaky", argv=[sys.executable, "-c", "raise SystemExit(3)"], env=dict(os.environ), port=0)
    supervisor = Supervisor([child], min_backoff=0.05, max_backoff=0.2)
    delays: list[float] = []
    caplog.set_level(logging.ERROR, logger="gramsetu.stack")
    supervisor.start_all()
    deadline = time.monotonic() + 15
    try:
        while len(delays) < 4 and time.monotonic() < deadline:
            scheduled = child.restart_at
            supervisor.tick()
            if scheduled is None and child.restart_at is not None:
                delays.append(round(child.restart_at - time.monotonic(), 2))
            time.sleep(0.01)
    finally:
        supervisor.stop_all()
    assert len(delays) == 4
    assert delays[0] <= 0.05 < delays[1] <= 0.1 < delays[2] <= 0.2
    assert delays[3] <= 0.2  # capped
    messages = [r.getMessage() for r in caplog.records]
    assert any("flaky exited unexpectedly with code 3" in m for m in messages)


class _LogReader:
    """Collect the supervisor's JSON log lines (stderr) in a background thread."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for raw in stream:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                continue

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], deadline: float) -> dict[str, Any]:
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"log line not seen; last lines: {[s.get('msg') for s in self.seen[-10:]]}")


def _wait_healthy(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url}/healthz never answered")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def supervisor_process(clean: None, settings: Settings, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    env.update(
        {
            "GRAMSETU_DATABASE_URL": settings.database_url or "",
            "GRAMSETU_NATS_URL": settings.nats_url or "",
            "GRAMSETU_SERVICE_PORTS": json.dumps({"registry": port}),
            "GRAMSETU_DATA_DIR": str(tmp_path / "data"),
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gramsetu.cli", "up", "--no-demo", "--service", "registry"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_supervisor_restarts_a_killed_service_and_stops_everything(
    supervisor_process: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = supervisor_process
    logs = _LogReader(proc.stderr)
    deadline = time.monotonic() + 45  # typically 5-12 s; generous for a loaded 2-core CI box

    first = logs.wait_for(lambda r: r.get("child") == "registry" and "pid" in r, deadline)
    _wait_healthy(url, deadline)
    os.kill(first["pid"], signal.SIGKILL)

    crash = logs.wait_for(lambda r: "exit_code" in r, deadline)
    assert crash["child"] == "registry" and crash["exit_code"] == -signal.SIGKILL
    assert crash["level"] == "error" and "registry exited unexpectedly" in crash["msg"]
    second = logs.wait_for(lambda r: r.get("child") == "registry" and "pid" in r, deadline)
    assert second["pid"] != first["pid"]
    _wait_healthy(url, deadline)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=max(deadline - time.monotonic(), 5)) == 0
    logs.wait_for(lambda r: r.get("msg") == "stack stopped", time.monotonic() + 2)
    assert not _alive(second["pid"])
    assert not _alive(first["pid"])
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/healthz", timeout=0.5)


def test_up_refuses_ports_already_in_use(settings: Settings, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
        env.update({
            "GRAMSETU_DATABASE_URL": settings.database_url or "",
            "GRAMSETU_NATS_URL": settings.nats_url or "",
            "GRAMSETU_SERVICE_PORTS": json.dumps({"registry": port}),
            "GRAMSETU_DATA_DIR": str(tmp_path / "data"),
        })
        result = subprocess.run(
            [sys.executable, "-m", "gramsetu.cli", "up", "--no-demo", "--service", "registry"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert f"registry:{port}" in result.stderr
    assert not (tmp_path / "data").exists()  # gave up before starting anything
