"""``gramsetu up``: embedded PostgreSQL and NATS when no URLs are given, migrations, and a
supervisor that runs every service (and the gateway) as a child process.

The supervisor restarts a child that exits unexpectedly, with capped exponential backoff,
and on SIGINT/SIGTERM stops the children first (SIGTERM, then SIGKILL after a grace period),
then NATS, then PostgreSQL, so no service ever loses its broker or database mid-shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx

from gramsetu.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_open
from kernel.migrations import ROOT, migrations_dir, upgrade
from kernel.settings import DEFAULT_PORTS, SERVICES, Settings

log = logging.getLogger("gramsetu.stack")

DATABASE_NAME = "gramsetu"
STATE_FILE = "stack.json"


def embedded_urls(data_dir: Path) -> tuple[str | None, str | None]:
    """URLs of the embedded servers a running ``gramsetu up`` started, if any (for status, dlq, migrate)."""
    state = _load_state(data_dir / STATE_FILE)
    pg, nats = state.get("postgres_port"), state.get("nats_port")
    pg_up = bool(pg and port_open("127.0.0.1", pg))
    nats_up = bool(nats and port_open("127.0.0.1", nats))
    return (
        f"postgresql://postgres@127.0.0.1:{pg}/{DATABASE_NAME}" if pg_up else None,
        f"nats://127.0.0.1:{nats}" if nats_up else None,
    )


def settings_with_running_stack(settings: Settings | None = None) -> Settings:
    """Settings from the environment; a database or NATS URL not set there is taken from the embedded
    servers of a running ``gramsetu up`` (so every CLI command works beside ``make run``)."""
    settings = settings or Settings()
    if settings.database_url and settings.nats_url:
        return settings
    db_url, nats_url = embedded_urls(settings.data_dir)
    return settings.model_copy(
        update={"database_url": settings.database_url or db_url, "nats_url": settings.nats_url or nats_url}
    )


def gateway_available() -> bool:
    return (ROOT / "gateway" / "app.py").exists()


def migrated_components(services: list[str]) -> list[str]:
    """Every schema to migrate for these services: theirs, plus the gateway's if it has one."""
    out = [s for s in services if s != "gateway"]
    if "gateway" in services and migrations_dir("gateway").exists():
        out.append("gateway")
    return out


def migrate(names: list[str], database_url: str) -> None:
    for name in names:
        log.info("migrating %s", name, extra={"component": name})
        upgrade(name, database_url)


# ---------------------------------------------------------------- embedded servers


def _load_state(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: int(v) for k, v in data.items() if isinstance(v, int)}


def _port(state: dict[str, int], key: str) -> int:
    """The port saved last time, unless something else now listens there."""
    saved = state.get(key)
    if saved and not port_open("127.0.0.1", saved):
        return saved
    if saved:
        log.warning("saved %s %d is taken; picking another", key, saved)
    return free_port()


def _stop_stale_nats(pid_file: Path, conf: Path) -> None:
    """A nats-server left behind by a supervisor that was SIGKILLed still holds the port and store."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(conf).encode() not in cmdline:
        return  # the pid was reused by an unrelated process
    log.warning("stopping nats-server %d left over from a previous run", pid)
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)


async def _ensure_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@dataclass
class Watched:
    """An embedded server the supervisor keeps running: restarted with capped backoff when it dies."""

    name: str
    alive: Callable[[], bool]
    restart: Callable[[], None]
    failures: int = 0
    retry_at: float = 0.0
    max_backoff: float = 10.0

    def check(self, now: float) -> None:
        if now < self.retry_at:
            return
        if self.alive():
            self.failures = 0
            return
        log.error("embedded %s is down; restarting it", self.name, extra={"server": self.name})
        try:
            self.restart()
        except Exception as exc:  # still down (e.g. shared memory not yet released): try again later
            self.failures += 1
            self.retry_at = now + min(0.5 * 2 ** self.failures, self.max_backoff)
            log.error("embedded %s did not restart (%s); retrying in %.1fs", self.name, exc,
                      self.retry_at - now, extra={"server": self.name})
            return
        self.retry_at = now + 1.0  # give it a moment before judging it again
        log.info("embedded %s restarted", self.name, extra={"server": self.name, "restarted": True})


@dataclass
class EmbeddedServers:
    """PostgreSQL and NATS under ``data_dir``, on ports kept in ``stack.json`` so data survives restarts."""

    data_dir: Path
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None

    @property
    def database_url(self) -> str:
        assert self.postgres is not None
        return urlparse(self.postgres.url)._replace(path=f"/{DATABASE_NAME}").geturl()

    @property
    def nats_url(self) -> str:
        assert self.nats is not None
        return self.nats.url

    def start(self, *, postgres: bool = True, nats: bool = True) -> EmbeddedServers:
        """Start the servers asked for; ports saved last time are reused so data dirs stay consistent."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state_path = self.data_dir / STATE_FILE
        state = _load_state(state_path)
        if postgres:
            self._start_postgres(state)
        if nats:
            self._start_nats(state)
        state_path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        return self

    def _start_postgres(self, state: dict[str, int]) -> None:
        pg = EmbeddedPostgres(self.data_dir / "postgres", port=0)
        if (pg.pgdata / "postmaster.pid").exists():
            pg.stop()  # left running by a killed supervisor: restart it under our control
        pg.port = state["postgres_port"] = _port(state, "postgres_port")
        log.info("starting embedded PostgreSQL on port %d (data in %s)", pg.port, pg.data_dir)
        self.postgres = pg.start()
        asyncio.run(_ensure_database(pg.url, DATABASE_NAME))

    def _start_nats(self, state: dict[str, int]) -> None:
        nats_dir = self.data_dir / "nats"
        _stop_stale_nats(nats_dir / "nats.pid", nats_dir / "nats.conf")
        nats = EmbeddedNats(nats_dir, port=_port(state, "nats_port"))
        state["nats_port"] = nats.port
        log.info("starting embedded NATS on port %d (data in %s)", nats.port, nats_dir)
        self.nats = nats.start()
        assert nats.proc is not None
        (nats_dir / "nats.pid").write_text(str(nats.proc.pid))

    def watched(self) -> list[Watched]:
        """The embedded servers as the supervisor watches them: restarted after a crash like a service."""
        out = []
        if self.postgres is not None:
            out.append(Watched("PostgreSQL", self._postgres_alive, self._restart_postgres))
        if self.nats is not None:
            out.append(Watched("NATS", self._nats_alive, self._restart_nats))
        return out

    def _postgres_alive(self) -> bool:
        """The postmaster's process (its pid is the first line of postmaster.pid) still exists."""
        assert self.postgres is not None
        try:
            pid = int((self.postgres.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return False
        return Path(f"/proc/{pid}").exists() if Path("/proc").exists() else self.postgres.running()

    def _restart_postgres(self) -> None:
        assert self.postgres is not None
        self.postgres.start()  # same port and data; PostgreSQL replays its WAL (crash recovery)

    def _nats_alive(self) -> bool:
        return self.nats is not None and self.nats.running()

    def _restart_nats(self) -> None:
        assert self.nats is not None
        self.nats.start()  # same port and JetStream store
        assert self.nats.proc is not None
        (self.nats.data_dir / "nats.pid").write_text(str(self.nats.proc.pid))

    def stop(self) -> None:
        if self.nats is not None:
            log.info("stopping embedded NATS")
            self.nats.stop()
            (self.nats.data_dir / "nats.pid").unlink(missing_ok=True)
        if self.postgres is not None:
            log.info("stopping embedded PostgreSQL")
            self.postgres.stop()


# ---------------------------------------------------------------- supervisor


def _die_with_parent() -> None:
    """Linux: have the kernel SIGTERM the child if the supervisor itself is killed."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # consecutive quick exits, drives the backoff
    restart_at: float | None = None

    def spawn(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            # A terminal Ctrl-C reaches the supervisor only; it stops the children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("started %s (pid %d) on port %d", self.name, self.proc.pid, self.port,
                 extra={"child": self.name, "pid": self.proc.pid, "port": self.port})


@dataclass
class Supervisor:
    children: list[Child]
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    stable_after: float = 30.0  # a child that ran this long has its backoff reset
    stop_timeout: float = 15.0
    stopping: bool = False
    _clock: Callable[[], float] = field(default=time.monotonic)

    def start_all(self) -> None:
        for child in self.children:
            child.spawn()

    def tick(self) -> None:
        """Reap exited children and restart those whose backoff has elapsed."""
        now = self._clock()
        for child in self.children:
            if self.stopping:
                return
            if child.proc is not None and child.restart_at is None:
                code = child.proc.poll()
                if code is None:
                    continue
                self._schedule_restart(child, code, now)
            if child.restart_at is not None and now >= child.restart_at:
                child.spawn()

    def _schedule_restart(self, child: Child, code: int, now: float) -> None:
        ran = now - child.started_at
        child.failures = 1 if ran >= self.stable_after else child.failures + 1
        delay = min(self.min_backoff * 2 ** (child.failures - 1), self.max_backoff)
        child.restart_at = now + delay
        log.error(
            "%s exited unexpectedly with code %d after %.1fs; restarting in %.1fs",
            child.name, code, ran, delay,
            extra={"child": child.name, "exit_code": code, "restart_in_seconds": delay},
        )

    def stop_all(self) -> None:
        self.stopping = True
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            assert child.proc is not None
            log.info("stopping %s (pid %d)", child.name, child.proc.pid, extra={"child": child.name})
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", child.name, self.stop_timeout)
                child.proc.kill()
                child.proc.wait()


def ready(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


# ---------------------------------------------------------------- signals


class StackInterrupted(Exception):
    """SIGINT/SIGTERM while starting up: unwind and stop whatever already runs."""


@contextlib.contextmanager
def shutdown_signals(flag: list[bool], *, raise_now: Callable[[], bool]) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        flag[0] = True
        log.info("received %s; shutting down", signal.Signals(signum).name)
        if raise_now():
            raise StackInterrupted

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# ---------------------------------------------------------------- up


@dataclass
class StackPlan:
    settings: Settings
    services: list[str]
    host: str
    gateway_port: int
    demo: bool


def child_env(database_url: str, nats_url: str, urls: dict[str, str], gateway_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GRAMSETU_DATABASE_URL": database_url,
            "GRAMSETU_NATS_URL": nats_url,
            "GRAMSETU_SERVICE_URLS": json.dumps(urls),
            "GRAMSETU_GATEWAY_PORT": str(gateway_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def planned_ports(plan: StackPlan) -> dict[str, int]:
    ports = {
        name: plan.settings.service_ports.get(name, DEFAULT_PORTS[name])
        for name in plan.services if name != "gateway"
    }
    if "gateway" in plan.services:
        ports["gateway"] = plan.gateway_port
    return ports


def build_children(plan: StackPlan, database_url: str, nats_url: str) -> list[Child]:
    ports = planned_ports(plan)
    urls = {name: f"http://{plan.host}:{port}" for name, port in ports.items() if name != "gateway"}
    env = child_env(database_url, nats_url, urls, plan.gateway_port)
    # The gateway fronts what this stack started (all of it, unless `-s` picked some).
    env.setdefault("GRAMSETU_GATEWAY_SERVICES", json.dumps(list(urls)))
    standins = provider_standins(plan, env, urls)
    return [
        *standins,
        *(Child(
            name=name,
            argv=[sys.executable, "-m", "gramsetu.cli", "serve", name, "--host", plan.host,
                  "--port", str(port)],
            env=env,
            port=port,
        )
        for name, port in ports.items()),
    ]


def provider_standins(plan: StackPlan, env: dict[str, str], urls: dict[str, str]) -> list[Child]:
    """Local stand-ins for outside providers, started before the services that call them: the Twilio
    stand-in for notify, unless GRAMSETU_NOTIFY_TWILIO_API_BASE names another API (empty: Twilio itself).
    Notify is told where it listens and where its own callbacks are reachable (``env`` is updated)."""
    if "notify" not in urls or "GRAMSETU_NOTIFY_TWILIO_API_BASE" in os.environ:
        return []
    port = free_port()
    env["GRAMSETU_NOTIFY_TWILIO_API_BASE"] = f"http://{plan.host}:{port}"
    env.setdefault("GRAMSETU_NOTIFY_PUBLIC_CALLBACK_BASE", urls["notify"])
    argv = [sys.executable, "-m", "services.notify.twilio_standin", "--host", plan.host, "--port", str(port)]
    return [Child(name="twilio-standin", argv=argv, env=env, port=port)]


def ports_in_use(plan: StackPlan) -> list[str]:
    return [f"{name}:{port}" for name, port in planned_ports(plan).items() if port_open(plan.host, port)]


def default_services() -> list[str]:
    return [*SERVICES, *(["gateway"] if gateway_available() else [])]


Announce = Callable[[list[Child], list[dict[str, Any]]], None]


def load_demo_data(plan: StackPlan, database_url: str, nats_url: str) -> list[dict[str, Any]]:
    """Every service's demo data (``services/<svc>/demo``'s ``load_demo``, after the migrations)
    and, with the gateway, the demo API keys."""
    from gramsetu.demo import demo_api_keys, load_service_demos

    settings = plan.settings.model_copy(update={"database_url": database_url, "nats_url": nats_url})
    asyncio.run(load_service_demos(settings, plan.services))
    if "gateway" not in plan.services:
        return []
    try:
        return asyncio.run(demo_api_keys(settings))
    except Exception:  # the stack is useful without demo keys; say why there are none
        log.exception("could not create demo API keys")
        return []


def run_stack(plan: StackPlan, on_ready: Announce) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code."""
    stop = [False]
    starting = [True]
    embedded: EmbeddedServers | None = None
    supervisor: Supervisor | None = None
    busy = ports_in_use(plan)
    if busy:
        log.error("ports already in use: %s (another `gramsetu up`?)", ", ".join(busy))
        return 1
    with shutdown_signals(stop, raise_now=lambda: starting[0]):
        try:
            s = plan.settings
            database_url, nats_url = s.database_url, s.nats_url
            if not database_url or not nats_url:
                embedded = EmbeddedServers(s.data_dir.resolve()).start(
                    postgres=not database_url, nats=not nats_url
                )
                database_url = database_url or embedded.database_url
                nats_url = nats_url or embedded.nats_url
            migrate(migrated_components(plan.services), database_url)
            keys = load_demo_data(plan, database_url, nats_url) if plan.demo else []
            supervisor = Supervisor(build_children(plan, database_url, nats_url))
            starting[0] = False
            if stop[0]:
                return 0
            supervisor.start_all()
            watched = embedded.watched() if embedded is not None else []
            _supervise(supervisor, plan.host, stop, lambda children: on_ready(children, keys), watched)
            return 0
        except StackInterrupted:
            return 0
        finally:
            starting[0] = False
            if supervisor is not None:
                supervisor.stop_all()
            if embedded is not None:
                embedded.stop()
            log.info("stack stopped")


def _supervise(
    supervisor: Supervisor, host: str, stop: list[bool], on_ready: Callable[[list[Child]], None],
    servers: list[Watched] | None = None,
) -> None:
    announced = False
    next_probe = 0.0
    waiting_since = time.monotonic()
    while not stop[0]:
        now = time.monotonic()
        for server in servers or []:
            server.check(now)  # the services reconnect by themselves once their server is back
        supervisor.tick()
        now = time.monotonic()
        if not announced and now >= next_probe:
            pending = [c.name for c in supervisor.children if not ready(f"http://{host}:{c.port}", 0.5)]
            if not pending:
                announced = True
                on_ready(supervisor.children)
            elif now - waiting_since > 60:
                log.warning("still waiting for /readyz of %s", ", ".join(pending))
                waiting_since = now
            next_probe = now + 0.5
        time.sleep(0.1)
