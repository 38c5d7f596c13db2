"""What every benchmark module shares: the servers it measures against, result rows, statistics.

Servers (started once per process by :func:`get_servers`, torn down by :func:`close_servers`):

* PostgreSQL: ``GRAMSETU_BENCH_DATABASE_URL`` if set (a database the bench may migrate and
  whose event tables it empties); else the machine's 127.0.0.1:5432, where a fresh database
  ``gramsetu_bench_<pid>`` (one per bench process) is created, migrated and dropped
  afterwards; else an EmbeddedPostgres.
* NATS: ``GRAMSETU_BENCH_NATS_URL`` if set; else a private EmbeddedNats on a free port with an
  empty JetStream store (removed afterwards).  JetStream runs with the server's default
  ``sync_interval`` (fsync every 2 min); ``GRAMSETU_BENCH_NATS_SYNC_ALWAYS=1`` starts it with
  ``sync_interval: always`` instead (what money and PII streams should use), which cuts
  pipelined publish rates about 8x (events-and-reliability.md), so compare figures only under
  the same setting.

A result row is ``{name, value, unit, baseline, ratio, goal, met}`` (plus an optional
``detail`` string): ``baseline`` is measured in the same run (or is the goal itself, which
the ``goal`` text then says), ``ratio`` is ``value / baseline``.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import nats
from nats.js.errors import NotFoundError

from gramsetu.embedded import EmbeddedNats, EmbeddedPostgres, port_open
from kernel.bus import ensure_streams, stream_configs
from kernel.migrations import upgrade
from kernel.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parent.parent
# One database per bench process, so that two runs at once (or a run beside the bench's own
# smoke test) never drop each other's data.
BENCH_DB = f"gramsetu_bench_{os.getpid()}"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REQUIRED_KEYS = ("name", "value", "unit", "baseline", "ratio", "goal", "met")


# ---------------------------------------------------------------- result rows


def make_row(
    name: str,
    *,
    value: float,
    unit: str,
    baseline: float,
    goal: str,
    met: bool,
    ratio: float | None = None,
    detail: str = "",
    errors: int = 0,
) -> dict[str, Any]:
    """One figure; ``ratio`` defaults to value / baseline; ``errors`` counts the operations of the
    measurement that failed (a figure measured over failures is not a figure)."""
    if ratio is None:
        ratio = value / baseline if baseline else None
    row: dict[str, Any] = {
        "name": name,
        "value": _finite(value),
        "unit": unit,
        "baseline": _finite(baseline),
        "ratio": _finite(ratio, 4),
        "goal": goal,
        "met": bool(met) and errors == 0,
        "errors": int(errors),
    }
    if detail:
        row["detail"] = detail
    return row


def _finite(value: float | None, digits: int = 3) -> float | None:
    """JSON has no NaN or infinity: a figure that is not a number is written as null."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def check_row(row: object) -> list[str]:
    """Problems with a row a bench module returned (empty when it follows the contract)."""
    if not isinstance(row, dict):
        return [f"row is a {type(row).__name__}, not a dict"]
    problems = [f"missing key {key!r}" for key in REQUIRED_KEYS if key not in row]
    if "met" in row and not isinstance(row["met"], bool):
        problems.append("'met' is not a boolean")
    for key in ("value", "baseline"):
        number = row.get(key)
        if key in row and not (isinstance(number, (int, float)) and math.isfinite(number)):
            problems.append(f"{key!r} is not a finite number: {number!r}")
    return problems


# ---------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return percentile(values, 50)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


# ---------------------------------------------------------------- servers


@dataclass
class Servers:
    database_url: str
    nats_url: str
    database_desc: str = ""
    nats_desc: str = ""
    _cleanup: list[Any] = field(default_factory=list, repr=False)

    def settings(self, **overrides: Any) -> Settings:
        """Production defaults (plus the environment's GRAMSETU_* settings), pointed at these servers."""
        return Settings(database_url=self.database_url, nats_url=self.nats_url, **overrides)

    def describe(self) -> str:
        return f"PostgreSQL: {self.database_desc}; NATS: {self.nats_desc}"


_servers: Servers | None = None


def migrated_services() -> list[str]:
    services = [*SERVICES]
    if (ROOT / "gateway" / "migrations").exists():
        services.append("gateway")
    return services


async def migrate(database_url: str) -> None:
    # Alembic's env runs its own event loop, so it has to run in a thread.
    for service in migrated_services():
        await asyncio.to_thread(upgrade, service, database_url)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process on this machine has used so far (``/proc/<pid>/stat``): what a
    request costs a service, whatever else the machine runs.  OSError when it cannot be read."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waited_seconds(pid: int) -> float:
    """Seconds a process has spent runnable but waiting for a CPU so far (``/proc/<pid>/schedstat``)."""
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as fh:
        return int(fh.read().split()[1]) / 1e9


def stop_process(*procs: subprocess.Popen[Any]) -> None:
    """Ask each service process to stop, then kill the ones still running after 15 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def recreate_database(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlparse(server_url)._replace(path=f"/{name}").geturl()


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


async def _start_postgres(servers: Servers) -> None:
    given = os.environ.get("GRAMSETU_BENCH_DATABASE_URL")
    if given:
        servers.database_url, servers.database_desc = given, f"given by GRAMSETU_BENCH_DATABASE_URL ({_redact(given)})"
    elif port_open("127.0.0.1", 5432):
        servers.database_url = await recreate_database(LOCAL_SERVER, BENCH_DB)
        servers.database_desc = f"local server 127.0.0.1:5432, fresh database {BENCH_DB}"
        servers._cleanup.append(lambda: drop_database(LOCAL_SERVER, BENCH_DB))
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="gramsetu-bench-pg-"))
        server = await asyncio.to_thread(EmbeddedPostgres(data_dir).start)
        servers.database_url = await recreate_database(server.url, BENCH_DB)
        servers.database_desc = f"EmbeddedPostgres on port {server.port}"
        servers._cleanup.append(lambda: _stop_embedded_postgres(server))
    await migrate(servers.database_url)


async def _stop_embedded_postgres(server: EmbeddedPostgres) -> None:
    await asyncio.to_thread(server.stop)
    shutil.rmtree(server.data_dir, ignore_errors=True)


async def _start_nats(servers: Servers) -> None:
    given = os.environ.get("GRAMSETU_BENCH_NATS_URL")
    if given:
        servers.nats_url, servers.nats_desc = given, f"given by GRAMSETU_BENCH_NATS_URL ({given})"
        return
    data_dir = Path(tempfile.mkdtemp(prefix="gramsetu-bench-nats-"))
    sync_always = os.environ.get("GRAMSETU_BENCH_NATS_SYNC_ALWAYS", "") not in ("", "0", "false")
    server = await asyncio.to_thread(EmbeddedNats(data_dir, sync_always=sync_always).start)
    servers.nats_url = server.url
    sync = "sync_interval: always" if sync_always else "default sync_interval (fsync every 2 min)"
    servers.nats_desc = f"private EmbeddedNats on port {server.port}, empty JetStream, {sync}"
    servers._cleanup.append(lambda: _stop_embedded_nats(server))


async def _stop_embedded_nats(server: EmbeddedNats) -> None:
    await asyncio.to_thread(server.stop)
    shutil.rmtree(server.data_dir, ignore_errors=True)


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")).geturl()
    return url


async def get_servers() -> Servers:
    """The servers of this bench run, started on first use."""
    global _servers
    if _servers is None:
        servers = Servers(database_url="", nats_url="")
        try:
            await _start_postgres(servers)
            await _start_nats(servers)
        except BaseException:
            await _run_cleanup(servers)
            raise
        _servers = servers
    return _servers


def current_servers() -> Servers | None:
    """The servers started so far in this process, if any."""
    return _servers


def run_loop(main: Any) -> Any:
    """Run a coroutine on uvicorn's default loop when installed (as the services run), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def close_servers() -> None:
    global _servers
    if _servers is not None:
        await _run_cleanup(_servers)
        _servers = None


async def _run_cleanup(servers: Servers) -> None:
    for cleanup in reversed(servers._cleanup):
        try:
            await cleanup()
        except Exception as exc:  # cleanup must not hide the results
            print(f"bench: cleanup failed: {type(exc).__name__}: {exc}")
    servers._cleanup.clear()


# ---------------------------------------------------------------- resetting state between runs


async def reset_streams(nats_url: str, settings: Settings) -> None:
    """Delete GramSetu's streams (and so their consumers) and declare them again, empty."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for config in stream_configs(settings):
            try:
                await js.delete_stream(str(config.name))
            except NotFoundError:
                pass
        await ensure_streams(js, settings)
    finally:
        await nc.close()


async def stream_message_count(nats_url: str, stream: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


async def truncate(database_url: str, tables: list[str]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"TRUNCATE {', '.join(tables)}")
    finally:
        await conn.close()


def child_env(database_url: str, nats_url: str) -> dict[str, str]:
    """Environment for a benchmark child process (a service under uvicorn, a load generator)."""
    env = dict(os.environ)
    env.update({"GRAMSETU_DATABASE_URL": database_url, "GRAMSETU_NATS_URL": nats_url, "GRAMSETU_LOG_LEVEL": "WARNING",
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)})
    env.setdefault("GRAMSETU_IDENTITY_SECRET", "bench-identity-secret")
    return env


async def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until the child listens on ``port``; fail at once if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        if port_open("127.0.0.1", port, 0.2):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"server on {port} did not start")
