"""Gateway overhead: a simple GET direct to the registry vs through the gateway.

Processes, as in production (each a uvicorn worker with uvloop + httptools):
* the registry (``GET /areas/IN-23``: identity check + one PostgreSQL read),
* the gateway in front of it, with API-key auth and rate limiting on (the bench client's
  bucket is large enough never to refuse, but every request still spends a token: leases
  from PostgreSQL, ``gateway.take_tokens``),
* a load generator (aiohttp, keep-alive) in its own process.

Measured in one run on the same upstream: throughput at concurrency ``GATEWAY_BENCH_CONCURRENCY``
(default 32) for ``GATEWAY_BENCH_SECONDS`` each, direct and through the gateway, alternating
(direct, gateway, direct, gateway; medians); and sequential latency (concurrency 1), whose p50
difference is what the gateway adds.  Goals (issue #4): throughput >= 70% of direct; added
p50 <= 1 ms.

Child processes: ``python -m bench.gateway_bench serve {registry,gateway} PORT [UPSTREAM_URL]``
and ``python -m bench.gateway_bench load '<json>'`` (prints one JSON line).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.common import (
    ROOT,
    child_env,
    env_float,
    env_int,
    get_servers,
    make_row,
    median,
    percentile,
    run_loop,
    stop_process,
    wait_ready,
)
from gramsetu.embedded import free_port

AREA = "IN-23"


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench.gateway_bench", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _load(url: str, headers: dict[str, str], concurrency: int, seconds: float,
                env: dict[str, str]) -> dict[str, Any]:
    spec = json.dumps({"url": url, "headers": headers, "concurrency": concurrency, "seconds": seconds})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.gateway_bench", "load", spec, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode})")
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


async def _seed(registry_url: str, secret: str) -> dict[str, str]:
    import aiohttp

    from kernel.auth import Identity, sign_identity

    identity = Identity(subject="bench", kind="system", roles=["admin"], scopes=["*"], area_scope=["IN"],
                        expires_at=time.time() + 3600)
    headers = sign_identity(identity, secret)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{registry_url}/areas", json={"code": AREA, "name": "Bench"},
                                headers=headers) as resp:
            if resp.status not in (201, 409):
                raise RuntimeError(f"seeding the registry failed: {resp.status} {await resp.text()}")
    return headers


async def run() -> list[dict[str, Any]]:
    from gateway.cli import provision_client
    from kernel.settings import Settings

    servers = await get_servers()
    env = child_env(servers.database_url, servers.nats_url)
    settings = Settings(database_url=servers.database_url, nats_url=servers.nats_url,
                        identity_secret=env["GRAMSETU_IDENTITY_SECRET"])
    seconds = env_float("GATEWAY_BENCH_SECONDS", 5.0)
    concurrency = env_int("GATEWAY_BENCH_CONCURRENCY", 32)
    registry_port, gateway_port = free_port(), free_port()
    registry_url = f"http://127.0.0.1:{registry_port}"
    procs = [_spawn(["serve", "registry", str(registry_port)], env)]
    try:
        await wait_ready(registry_port, procs[0])
        procs.append(_spawn(["serve", "gateway", str(gateway_port), registry_url], env))
        await wait_ready(gateway_port, procs[1])
        direct_headers = await _seed(registry_url, settings.identity_secret)
        client = await provision_client(f"bench-{os.getpid()}-{int(time.time())}", ["registry:read"], ["IN"],
                                        rate_per_minute=60_000_000, settings=settings)
        targets = {
            "direct": (f"{registry_url}/areas/{AREA}", direct_headers),
            "gateway": (f"http://127.0.0.1:{gateway_port}/registry/areas/{AREA}", {"X-API-Key": client.api_key}),
        }
        for url, headers in targets.values():  # warm-up: connections, caches, JIT-free but lazy imports
            await _load(url, headers, concurrency, 1.0, env)
        rps: dict[str, list[float]] = {"direct": [], "gateway": []}
        throughput_errors = 0
        for _ in range(2):
            for name, (url, headers) in targets.items():
                result = await _load(url, headers, concurrency, seconds, env)
                rps[name].append(result["rps"])
                throughput_errors += result["errors"]
        latency: dict[str, dict[str, Any]] = {}
        for name, (url, headers) in targets.items():
            latency[name] = await _load(url, headers, 1, seconds, env)
    finally:
        stop_process(*procs)
    direct_rps, gateway_rps = median(rps["direct"]), median(rps["gateway"])
    added_p50 = latency["gateway"]["p50_ms"] - latency["direct"]["p50_ms"]
    detail = f"c={concurrency}, {seconds:g}s x2 each, GET /areas/{AREA}; errors " + ", ".join(
        f"{k}={latency[k]['errors']}" for k in latency)
    return [
        make_row("gateway.throughput", value=gateway_rps, unit="req/s", baseline=direct_rps,
                 goal=">= 70% of direct", met=gateway_rps >= 0.7 * direct_rps, detail=detail,
                 errors=throughput_errors),
        make_row("gateway.latency_p50_added", value=added_p50, unit="ms", baseline=1.0, goal="<= 1 ms",
                 met=added_p50 <= 1.0, errors=sum(latency[k]["errors"] for k in latency),
                 detail=f"c=1 p50 direct {latency['direct']['p50_ms']:.3f} ms, gateway "
                        f"{latency['gateway']['p50_ms']:.3f} ms; p99 {latency['direct']['p99_ms']:.3f} / "
                        f"{latency['gateway']['p99_ms']:.3f} ms"),
    ]


# ---------------------------------------------------------------- child processes
def _serve(kind: str, port: int, upstream: str | None) -> None:
    import uvicorn

    from kernel.settings import Settings

    settings = Settings()
    if kind == "registry":
        from services.registry.app import create_app

        app = create_app(settings, workers=False)
    else:
        from gateway.app import create_app as create_gateway

        assert upstream is not None
        app = create_gateway(settings, upstreams={"registry": upstream})
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, proxy_headers=False, loop="uvloop",
                http="httptools", lifespan="on")


async def _generate(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + spec["seconds"]
    connector = aiohttp.TCPConnector(limit=spec["concurrency"])
    async with aiohttp.ClientSession(connector=connector, headers=spec["headers"]) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with session.get(spec["url"]) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        elapsed = time.perf_counter() - started
    if not latencies:
        return {"rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan"), "errors": errors}
    return {"rps": len(latencies) / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "errors": errors}


def main(argv: list[str]) -> None:
    if argv[0] == "serve":
        _serve(argv[1], int(argv[2]), argv[3] if len(argv) > 3 else None)
    elif argv[0] == "load":
        print(json.dumps(run_loop(_generate(json.loads(argv[1])))))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
