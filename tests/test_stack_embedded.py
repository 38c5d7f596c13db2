"""`gramsetu up` supervises its embedded PostgreSQL and NATS like the services: after a kill -9
of either, the server is restarted and the service is ready again without anyone stepping in;
and the stack stops promptly even when the broker is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gramsetu.embedded import EmbeddedNats, free_port
from kernel.settings import Settings
from tests.test_stack import ROOT, _LogReader

URL_VARS = ("GRAMSETU_DATABASE_URL", "DATABASE_URL", "GRAMSETU_NATS_URL", "NATS_URL")


def _ready(url: str, deadline: float) -> dict[str, bool]:
    last: dict[str, bool] = {}
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/readyz", timeout=1)
            last = r.json().get("checks", {})
            if r.status_code == 200:
                return last
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready; last checks {last}")


def _up(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gramsetu.cli", "up", "--no-demo", "--service", "registry"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen[str]) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    return time.monotonic() - started


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Short, so PostgreSQL's Unix socket path fits as it would under a checkout's ./.gramsetu
    path = Path(tempfile.mkdtemp(prefix="gs-up-"))
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.mark.slow
def test_up_restarts_its_embedded_servers_after_kill_9(short_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in URL_VARS}
    env |= {"GRAMSETU_DATA_DIR": str(short_dir / "data"), "GRAMSETU_SERVICE_PORTS": json.dumps({"registry": port})}
    proc = _up(env)
    logs = _LogReader(proc.stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        _ready(url, deadline)
        nats_pid = int((short_dir / "data" / "nats" / "nats.pid").read_text())
        os.kill(nats_pid, signal.SIGKILL)
        logs.wait_for(lambda r: r.get("server") == "NATS" and bool(r.get("restarted")), deadline)
        assert _ready(url, deadline)["nats"]
        pg_pid = int((short_dir / "data" / "postgres" / "pgdata" / "postmaster.pid").read_text().split()[0])
        os.kill(pg_pid, signal.SIGKILL)
        logs.wait_for(lambda r: r.get("server") == "PostgreSQL" and bool(r.get("restarted")), deadline)
        assert _ready(url, deadline)["database"]
        assert _stop(proc) < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_up_stops_promptly_when_the_broker_is_gone(settings: Settings, clean: None, tmp_path: Path) -> None:
    broker = EmbeddedNats(tmp_path / "nats").start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in URL_VARS}
    env |= {"GRAMSETU_DATABASE_URL": settings.database_url or "", "GRAMSETU_NATS_URL": broker.url,
            "GRAMSETU_DATA_DIR": str(tmp_path / "data"), "GRAMSETU_SERVICE_PORTS": json.dumps({"registry": port})}
    proc = _up(env)
    try:
        _ready(f"http://127.0.0.1:{port}", time.monotonic() + 90)
        broker.kill()
        time.sleep(1.0)  # the service notices and starts reconnecting
        assert _stop(proc) < 8  # it used to wait out the 15 s grace period and be killed
    finally:
        broker.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
