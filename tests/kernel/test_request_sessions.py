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
