"""CPU per ``POST /tickets``: where a single creation's CPU goes (not a figure of the bench suite).

Two ways, both against real PostgreSQL (a database of its own, migrated, the bench's desks) and an
embedded NATS, workers off:

* ``--server``: the service under uvicorn in child processes (``--processes``, ports of their own), as
  ``tickets.create_rate`` runs it, driven by C concurrent clients; prints the server processes' CPU per
  request (``/proc/<pid>/stat``, user + system) and the client's (this process), never mixed up;
* default: the app in this process through httpx's ASGI transport, one request at a time (client +
  service, ``os.times``), for ``GET /healthz`` (the kernel's middleware and nothing else) and
  ``POST /``; ``--profile`` adds a cProfile of a second run, timed by CPU (``time.process_time``).

    .venv/bin/python -m bench.tickets_per_request [--n 1000] [--server [--processes P] [--client httpx]]
        [--concurrency 16] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from bench import tickets_load
from bench.common import process_cpu_seconds, recreate_database, run_loop, stop_process
from bench.tickets_bench import VILLAGE, _setup_desks, start_replicas
from gramsetu.embedded import EmbeddedNats
from kernel.auth import Identity, sign_identity
from kernel.migrations import upgrade
from kernel.settings import Settings

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BODY = {"category": "app_problem", "title": "Tablet does not sync", "description": "bench",
        "area_code": VILLAGE, "reporter": {"name": "Sunita Devi", "phone": "+919876543210"}}


def _headers(secret: str) -> dict[str, str]:
    identity = Identity(subject="bench-worker", kind="user", roles=["anganwadi_worker"],
                        scopes=["tickets:read", "tickets:write"], area_scope=[VILLAGE], expires_at=time.time() + 3600)
    return sign_identity(identity, secret)


async def _fire(client: httpx.AsyncClient, n: int, concurrency: int, headers: dict[str, str]) -> int:
    left = iter(range(n))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for _ in left:
            r = await client.post("/", json=BODY, headers=headers)
            errors += r.status_code != 201

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return errors


async def _server(url: str, nats_url: str, secret: str, args: argparse.Namespace) -> None:
    n, concurrency = args.n, args.concurrency
    ports, procs = await start_replicas(url, nats_url, args.processes, secret)
    try:
        headers = _headers(secret)
        if args.client == "httpx":
            clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                         limits=httpx.Limits(max_connections=concurrency)) for port in ports]

            async def fire(count: int) -> int:
                shares = [count // len(clients) + (i < count % len(clients)) for i in range(len(clients))]
                per = max(concurrency // len(clients), 1)
                return sum(await asyncio.gather(*(_fire(c, k, per, headers) for c, k in zip(clients, shares,
                                                                                             strict=True))))
        else:
            request = tickets_load.encode_request("POST", "/", BODY, headers, "127.0.0.1")

            async def fire(count: int) -> int:
                return await tickets_load.fire("127.0.0.1", ports, request, count, concurrency)
        await fire(200)
        server_before = sum(process_cpu_seconds(p.pid) for p in procs)
        client_before, started = time.process_time(), time.perf_counter()
        errors = await fire(n)
        elapsed = time.perf_counter() - started
        server_cpu = sum(process_cpu_seconds(p.pid) for p in procs) - server_before
        client_cpu = time.process_time() - client_before
        print(f"uvicorn x{args.processes}, {args.client} client: {n / elapsed:7.0f} requests/s, server "
              f"{server_cpu * 1000 / n:.3f} ms CPU/request, client {client_cpu * 1000 / n:.3f} ms CPU/request, "
              f"{errors} errors, {concurrency} concurrent, load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        stop_process(*procs)


async def _in_process(settings: Settings, secret: str, n: int, profile: bool, out: Path) -> None:
    from services.tickets.app import create_app

    app = create_app(settings, workers=False)
    headers = _headers(secret)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            calls: dict[str, Any] = {
                "healthz": lambda: client.get("/healthz"),
                "post": lambda: client.post("/", json=BODY, headers=headers),
            }
            for name, call in calls.items():
                for _ in range(50):
                    assert (await call()).status_code < 300
                before = os.times()
                for _ in range(n):
                    await call()
                after = os.times()
                cpu = ((after.user + after.system) - (before.user + before.system)) * 1000 / n
                print(f"in process {name:8s} {cpu:6.3f} ms CPU/request (client + service), load "
                      f"{os.getloadavg()[0]:.2f}", flush=True)
                if profile:
                    prof = cProfile.Profile(time.process_time)
                    prof.enable()
                    for _ in range(n):
                        await call()
                    prof.disable()
                    prof.dump_stats(out / f"tickets-{name}.prof")
                    for key in ("cumulative", "tottime"):
                        print(f"--- {name} by {key}")
                        pstats.Stats(prof).sort_stats(key).print_stats(50)


@contextmanager
def _private_nats() -> Iterator[str]:
    """An embedded NATS with an empty store of its own, removed afterwards."""
    store = Path(tempfile.mkdtemp(prefix="gramsetu-tickets-perreq-nats-"))
    nats = EmbeddedNats(store).start()
    try:
        yield nats.url
    finally:
        nats.stop()
        shutil.rmtree(store, ignore_errors=True)


async def main(args: argparse.Namespace) -> None:
    url = await recreate_database(SERVER, args.db)
    await asyncio.to_thread(upgrade, "tickets", url)
    conn = await asyncpg.connect(url)
    try:
        await _setup_desks(conn)
    finally:
        await conn.close()
    secret = secrets.token_hex(16)
    with _private_nats() as nats_url:
        if args.server:
            await _server(url, nats_url, secret, args)
        else:
            settings = Settings(database_url=url, nats_url=nats_url, identity_secret=secret, log_level="WARNING")
            await _in_process(settings, secret, args.n, args.profile, args.out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--server", action="store_true", help="a uvicorn child process, C concurrent clients")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1, help="service processes, ports of their own (--server)")
    parser.add_argument("--client", choices=("lean", "httpx"), default="lean", help="the load generator (--server)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--db", default=f"{os.environ.get('GRAMSETU_TEST_DB_PREFIX', 'gramsetu')}_tickets_per_request")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gramsetu-per-request")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    run_loop(main(args))
