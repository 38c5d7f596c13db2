"""Service CPU per HTTP request, in process: where the shared request path spends it.

Not a figure of the bench suite: a helper for finding per-request overhead.  It starts the
benefits app in this process (as tests/conftest.py's ``start_service`` does: lifespan, real
PostgreSQL in a database of its own, an embedded NATS, workers off), then runs ``N`` of each, one
at a time:

* ``direct``: GET /schemes's queries and one ledger posting (``posting.post``, one entry, one
  transaction), each in a session of its own, without HTTP: the database layer's share;
* ``healthz``: ``GET /healthz`` through httpx's ASGI transport (the kernel's middleware, nothing else);
* ``key``: ``GET /ledger/public-key`` (identity and a route, no database);
* ``schemes``: ``GET /schemes`` (identity, a page of the catalogue: a count and a select);
* ``post``: ``POST /entries``, one ledger posting each, as a department client (signed identity).

It prints the process's CPU per request (user + system, ``os.times``; this process is both the
client and the service, so the HTTP figures include httpx's side, about what ``healthz`` costs).
``--profile`` adds a cProfile of a second run, timed by CPU (``time.process_time``): cProfile's
default wall clock charges a loaded machine's waits to ``socket.send`` and ``epoll``, and reads
as if the loopback writes were the cost.  The profiler itself inflates every call about 3x.

    .venv/bin/python -m bench.per_request [--n 500] [--profile] [--only direct post] [--db NAME]
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
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bench.benefits_bench import POSTER, _bodies, _json, _persons, _poster_headers, _setup_catalogue
from bench.common import recreate_database
from gramsetu.embedded import EmbeddedNats
from kernel.auth import Identity, sign_identity
from kernel.migrations import upgrade
from kernel.settings import Settings

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _database(name: str) -> str:
    url = await recreate_database(SERVER, name)
    await asyncio.to_thread(upgrade, "benefits", url)
    return url


async def _drive(client: httpx.AsyncClient, calls: list[tuple[str, str, Any]], headers: dict[str, str]) -> None:
    for method, path, body in calls:
        resp = await client.request(method, path, content=body, headers=headers)
        if resp.status_code >= 300:
            raise SystemExit(f"{method} {path}: {resp.status_code} {resp.text[:300]}")


async def _direct_schemes(sessions: Any, _: Any, n: int) -> None:
    from services.benefits.repository.catalogue import CatalogueRepository

    for _ in range(n):
        async with sessions() as session, session.begin():
            await CatalogueRepository(session).schemes(department_code=None, area=None, on=None, limit=50, offset=0)


async def _direct_post(sessions: Any, bodies: Any, n: int) -> None:
    from services.benefits.service import posting

    poster = Identity(subject=POSTER, kind="client", roles=["none"],
                      scopes=["benefits:read", "benefits:write", "benefits:post"], area_scope=["BD"])
    for _ in range(n):
        async with sessions() as session, session.begin():
            outcome = (await posting.post(session, poster, [next(bodies)], now=datetime.now(timezone.utc),
                                          mode="single"))[0]
            assert outcome.status == "accepted", outcome


async def main(n: int, profile: bool, db: str, only: list[str], out: Path) -> None:
    url = await _database(db)
    nats_dir = Path(tempfile.mkdtemp(prefix="gramsetu-perreq-nats-"))
    nats = EmbeddedNats(nats_dir).start()
    secret = secrets.token_hex(16)
    settings = Settings(database_url=url, nats_url=nats.url, identity_secret=secret, log_level="WARNING")
    try:
        from kernel.db import make_engine, make_sessionmaker
        from services.benefits.app import create_app

        engine = make_engine(url, pool_size=1, max_overflow=0)
        await _setup_catalogue(make_sessionmaker(engine))
        await engine.dispose()
        persons = await _persons(url, 4 * n + 200)
        poster = {**_poster_headers(secret), "Content-Type": "application/json"}
        reader = sign_identity(Identity(subject="reader", kind="user", roles=["admin"], scopes=["*"],
                                        area_scope=["BD"], expires_at=time.time() + 3600), secret)
        app = create_app(settings, workers=False)
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
            if os.environ.get("PERREQ_GC"):  # an experiment: the collector's share
                import gc

                gc.set_threshold(*map(int, os.environ["PERREQ_GC"].split(",")))
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                bodies = iter([_json(b) for b in _bodies(persons, "p")])
                Make = Callable[[int], list[tuple[str, str, Any]]]
                kinds: dict[str, tuple[Make, dict[str, str]]] = {
                    "healthz": (lambda k: [("GET", "/healthz", None)] * k, {}),
                    "key": (lambda k: [("GET", "/ledger/public-key", None)] * k, reader),
                    "schemes": (lambda k: [("GET", "/schemes", None)] * k, reader),
                    "post": (lambda k: [("POST", "/entries", next(bodies)) for _ in range(k)], poster),
                }
                if not only or "direct" in only:  # the same work without HTTP: the database layer's share
                    direct = iter(_bodies(persons[2 * n + 100:], "d"))
                    for label, work in (("schemes", _direct_schemes), ("post", _direct_post)):
                        await work(app.state.sessionmaker, direct, 20)
                        before = os.times()
                        await work(app.state.sessionmaker, direct, n // 2)
                        after = os.times()
                        cpu = ((after.user + after.system) - (before.user + before.system)) * 1000 / (n // 2)
                        print(f"direct {label:8s} {cpu:6.2f} ms CPU per request's work in a session of its own, "
                              f"no HTTP", flush=True)
                        if profile:
                            prof = cProfile.Profile(time.process_time)
                            prof.enable()
                            await work(app.state.sessionmaker, direct, n // 2)
                            prof.disable()
                            prof.dump_stats(out / f"direct-{label}.prof")
                for name, (make, headers) in kinds.items():
                    if only and name not in only:
                        continue
                    await _drive(client, make(50), headers)  # warm-up: prepared statements, caches
                    calls = make(n)
                    before = os.times()
                    await _drive(client, calls, headers)
                    after = os.times()
                    user, system = ((after.user - before.user) * 1000 / n, (after.system - before.system) * 1000 / n)
                    print(f"{name:8s} {user + system:6.2f} ms CPU/request ({user:.2f} user + {system:.2f} system) "
                          f"over {n} (client + service, one process)", flush=True)
                    if profile:
                        calls = make(n)
                        prof = cProfile.Profile(time.process_time)  # CPU, not wall: waits are not costs
                        prof.enable()
                        await _drive(client, calls, headers)
                        prof.disable()
                        prof.dump_stats(out / f"{name}.prof")
                        for key in ("cumulative", "tottime"):
                            print(f"--- {name} by {key}")
                            pstats.Stats(prof).sort_stats(key).print_stats(45)
    finally:
        nats.stop()
        shutil.rmtree(nats_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--db", default=f"{os.environ.get('GRAMSETU_TEST_DB_PREFIX', 'gramsetu')}_per_request",
                        help="the database to (re)create and use")
    parser.add_argument("--only", nargs="*", default=[], help="direct healthz key schemes post (default: all)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gramsetu-per-request",
                        help="where --profile writes its .prof files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.n, args.profile, args.db, args.only, args.out))
