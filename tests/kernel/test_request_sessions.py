"""Each HTTP request has a database session of its own, also when requests run at once in one process."""

from __future__ import annotations

import asyncio


async def test_concurrent_requests_in_one_process_each_commit_their_own_work(registry_client, admin_headers):
    # asgi_lifespan hands every request the same lifespan-state dict (uvicorn gives each a copy); the
    # request's session lived in it, so concurrent in-process requests shared one session and failed
    # with 500 "rollback while commit in progress".
    codes = [f"BD-{n}" for n in range(10, 30)]

    async def create(code: str) -> int:
        r = await registry_client.post("/areas", json={"code": code, "name": code}, headers=admin_headers)
        return r.status_code

    assert await asyncio.gather(*(create(code) for code in codes)) == [201] * len(codes)
    listed = await registry_client.get("/areas", params={"parent": "BD", "limit": 100}, headers=admin_headers)
    assert sorted(a["code"] for a in listed.json()["items"]) == codes


async def test_the_same_record_created_at_once_gives_one_201_and_409s_not_500s(registry_client, admin_headers):
    # Both requests pass the "already exists?" check before either inserts; the loser's unique-key
    # violation was a 500.  Any service: the kernel answers a unique violation 409 and a deadlock 503.
    async def create() -> int:
        r = await registry_client.post("/areas", json={"code": "IN-23", "name": "MP"}, headers=admin_headers)
        assert r.status_code in {201, 409} and r.headers["content-type"].startswith(
            "application/json" if r.status_code == 201 else "application/problem+json"), r.text
        return r.status_code

    statuses = await asyncio.gather(*(create() for _ in range(8)))
    assert sorted(statuses) == [201] + [409] * 7


async def test_a_burst_of_requests_reuses_the_connections_the_last_burst_opened(database_url):
    # SQLAlchemy closes an overflow connection when it is returned to a full pool, so every burst above
    # the pool's size connected afresh (a backend start, asyncpg's type introspection, statements planned
    # again).  The settings keep a service's whole maximum in the pool: the second burst opens nothing.
    from sqlalchemy import text

    from kernel.db import make_engine
    from kernel.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = make_engine(database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    width = settings.db_pool_size + settings.db_max_overflow

    async def backend_pid(held: asyncio.Event) -> int:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await held.wait()  # every connection of the burst checked out at once
            return int(pid)

    async def burst() -> set[int]:
        held = asyncio.Event()
        tasks = [asyncio.create_task(backend_pid(held)) for _ in range(width)]
        while engine.sync_engine.pool.checkedout() < width:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        held.set()
        return set(await asyncio.gather(*tasks))

    try:
        first = await burst()
        assert len(first) == width
        assert await burst() == first
    finally:
        await engine.dispose()
