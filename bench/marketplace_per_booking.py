"""One marketplace booking, looked at closely: its database round trips and its CPU, in process.

Not a figure of the bench suite: a helper for the booking path (``bench/per_request.py`` does the
same for benefits).  It starts the marketplace app in this process (lifespan, real PostgreSQL in a
database of its own, an embedded NATS, workers off) over ``--workers`` bench workers
(``marketplace_bench._load_workers``), then:

* ``--trace``: sets ``log_statement = all`` on its own database (only new connections of that database
  log), makes warm-up bookings (prepared statements, caches), then one booking between two marker
  queries, and prints what PostgreSQL logged for it from the server log (``--log``): each line is one
  round trip (a statement sent, or BEGIN / COMMIT / ROLLBACK); statements prepared before are not
  prepared again, which is what a warm process does.
* CPU: ``--n`` bookings one at a time through httpx's ASGI transport, process CPU per booking
  (client + app; ``GET /healthz`` through the same client, printed too, is about the client's share).
  ``--profile FILE`` writes a cProfile (timed by CPU) of a second run.

    .venv/bin/python -m bench.marketplace_per_booking [--n 300] [--workers 20000] [--trace] [--profile F]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import secrets
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from bench.common import recreate_database
from bench.marketplace_bench import AREA, BOX, _load_workers
from gramsetu.embedded import EmbeddedNats
from kernel.auth import Identity, sign_identity
from kernel.migrations import upgrade
from kernel.settings import Settings

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
LOG = "/var/log/postgresql/postgresql-15-main.log"


def _bodies(seed: int) -> Any:
    rng = random.Random(seed)
    while True:
        lat, lon = rng.uniform(BOX[0] + 0.3, BOX[1] - 0.3), rng.uniform(BOX[2] + 0.3, BOX[3] - 0.3)
        yield {"job_code": f"c{rng.randint(1, 9)}.job", "area_code": AREA, "lat": lat, "lon": lon,
               "address": "bench", "customer_name": "Bench", "customer_phone": "+919812345678"}


async def _book(client: httpx.AsyncClient, bodies: Any, headers: dict[str, str], n: int) -> None:
    for _ in range(n):
        resp = await client.post("/bookings", json=next(bodies), headers=headers)
        if resp.status_code != 201:
            raise SystemExit(f"POST /bookings: {resp.status_code} {resp.text[:300]}")


def _read_from(path: str, offset: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        return f.read()


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


async def _trace(url: str, client: httpx.AsyncClient, bodies: Any, headers: dict[str, str], log: str) -> None:
    marker = uuid.uuid4().hex
    conn = await asyncpg.connect(url)
    try:
        size = await asyncio.to_thread(os.path.getsize, log)
        await conn.execute(f"SELECT 'begin-{marker}'")
        await _book(client, bodies, headers, 1)
        await conn.execute(f"SELECT 'end-{marker}'")
    finally:
        await conn.close()
    await asyncio.sleep(0.5)  # the logger's write
    text = await asyncio.to_thread(_read_from, log, size)
    inside = text.split(f"begin-{marker}", 1)[1].split(f"end-{marker}", 1)[0]
    lines = [line for line in inside.splitlines()[1:-1] if "LOG:  " in line]
    print(f"round trips for one booking: {len(lines)}")
    for line in lines:
        print("  " + line.split("LOG:  ", 1)[1][:220])


async def main(args: argparse.Namespace) -> None:
    url = await recreate_database(SERVER, args.db)
    await asyncio.to_thread(upgrade, "marketplace", url)
    conn = await asyncpg.connect(url)
    try:
        await _load_workers(conn, args.workers)
        if args.trace:
            await conn.execute(f'ALTER DATABASE "{args.db}" SET log_statement = \'all\'')
        if args.custom_plans:  # an experiment: is a generic plan of a prepared statement the cost?
            await conn.execute(f'ALTER DATABASE "{args.db}" SET plan_cache_mode = force_custom_plan')
    finally:
        await conn.close()
    nats_dir = Path(tempfile.mkdtemp(prefix="gramsetu-perbooking-nats-"))
    nats = EmbeddedNats(nats_dir).start()
    secret = secrets.token_hex(16)
    settings = Settings(database_url=url, nats_url=nats.url, identity_secret=secret, log_level="WARNING")
    headers = sign_identity(Identity(subject="bench-app", kind="client", roles=["admin"], scopes=["*"],
                                     area_scope=["IN"], expires_at=time.time() + 3600), secret)
    try:
        from services.marketplace.app import create_app

        app = create_app(settings, workers=False)
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                bodies = _bodies(11)
                await _book(client, bodies, headers, 50)  # warm-up: prepared statements, caches
                if args.trace:
                    await _trace(url, client, bodies, headers, args.log)
                for _ in range(50):
                    await client.get("/healthz")
                before = _cpu()
                for _ in range(args.n):
                    await client.get("/healthz")
                healthz = (_cpu() - before) * 1000 / args.n
                before, started = _cpu(), time.perf_counter()
                await _book(client, bodies, headers, args.n)
                per = (_cpu() - before) * 1000 / args.n
                wall = (time.perf_counter() - started) * 1000 / args.n
                print(f"POST /bookings {per:6.2f} ms CPU per booking (client + app, in process), {wall:.2f} ms wall "
                      f"one at a time; GET /healthz {healthz:.2f} ms; load average {os.getloadavg()[0]:.1f}",
                      flush=True)
                if args.profile:
                    prof = cProfile.Profile(time.process_time)
                    prof.enable()
                    await _book(client, bodies, headers, args.n)
                    prof.disable()
                    prof.dump_stats(args.profile)
    finally:
        nats.stop()
        shutil.rmtree(nats_dir, ignore_errors=True)
        conn = await asyncpg.connect(SERVER)
        try:
            await conn.execute(f'ALTER DATABASE "{args.db}" RESET ALL')
        finally:
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--workers", type=int, default=20_000)
    parser.add_argument("--db", default="gt_market_perbooking")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--log", default=LOG)
    parser.add_argument("--profile", default="")
    parser.add_argument("--custom-plans", action="store_true")
    asyncio.run(main(parser.parse_args()))
