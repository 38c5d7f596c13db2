"""DCI callbacks are external effects (kernel.effects): recorded as attempted before the POST
leaves, sent with an ``Idempotency-Key``, and repeated with the same key after a worker dies
between the POST and recording its outcome, so a real receiving server can tell the repeat."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web

from kernel.scheduler import Scheduler
from kernel.settings import Settings
from services.registry.service.dci import REPLY_JOB
from services.registry.service.dci_jobs import reply_job
from tests.conftest import start_service
from tests.registry.conftest import AREAS
from tests.registry.dci_support import CallbackServer, Sender, onboard, search_item

SENDER = Sender("dept-health", "cli_health")
ON_SEARCH = "/dci/registry/on-search"


class RecordingReceiver(CallbackServer):
    """Records each callback's Idempotency-Key, DCI message_id, and what the registry's own database
    said about that key at the moment the POST arrived.  With ``hold_first`` the first POST is kept
    unanswered until :attr:`release` is set (the sender can die while it waits)."""

    def __init__(self, database_url: str, *, hold_first: bool = False) -> None:
        super().__init__()
        self.database_url = database_url
        self.hold_first = hold_first
        self.calls: list[dict[str, Any]] = []
        self.first_arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        conn = await asyncpg.connect(self.database_url)
        try:
            row = await conn.fetchrow("SELECT status, attempts FROM registry.external_effect WHERE key = $1", key)
        finally:
            await conn.close()
        body = await request.json()
        self.calls.append({"path": request.path, "key": key, "message_id": body["header"]["message_id"],
                           "status_at_call": dict(row) if row else None})
        if self.hold_first and len(self.calls) == 1:
            self.first_arrived.set()
            await self.release.wait()
        return await super()._handle(request)  # aiohttp keeps the body: it is read again there


async def _effect(database_url: str, key: str) -> dict[str, Any] | None:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT status, attempts, result FROM registry.external_effect WHERE key = $1", key)
    finally:
        await conn.close()
    return dict(row) if row else None


async def _search(client: httpx.AsyncClient, callback_base: str) -> str:
    await onboard(client, SENDER, [callback_base + "/dci/"])
    env = SENDER.envelope("search", {"transaction_id": "T-E", "search_request": [
        search_item("R-1", "predicate", [{"expression1": {"attribute_name": "sex", "operator": "eq",
                                                          "attribute_value": "female"}}])]},
        sender_uri=callback_base + "/dci/registry")
    r = await client.post("/registry/search", json=env, headers=SENDER.headers())
    assert r.status_code == 200, r.text
    return r.json()["message"]["correlation_id"]  # type: ignore[no-any-return]


@pytest.fixture
async def receiver(database_url: str) -> AsyncIterator[RecordingReceiver]:
    server = RecordingReceiver(database_url)
    await server.start()
    try:
        yield server
    finally:
        server.release.set()
        await server.stop()


async def test_a_callback_is_recorded_as_attempted_before_it_is_sent_and_carries_its_key(
    client: httpx.AsyncClient, receiver: RecordingReceiver, database_url: str
) -> None:
    correlation_id = await _search(client, receiver.base)
    [reply] = await receiver.wait_for(ON_SEARCH)
    key = f"dci:on-search:{correlation_id}"
    [call] = receiver.calls
    assert call["key"] == key
    assert call["status_at_call"] == {"status": "attempted", "attempts": 1}  # committed before the POST left
    await asyncio.sleep(0.3)
    effect = await _effect(database_url, key)
    assert effect is not None and effect["status"] == "sent" and effect["attempts"] == 1
    assert json.loads(effect["result"]) == {"http_status": 200, "message_id": reply["header"]["message_id"]}
    assert len(receiver.calls) == 1


@pytest.fixture
async def registry_without_workers(clean: None, settings: Settings,
                                   admin_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The registry's HTTP side only: the test runs the scheduler itself, so it can kill it."""
    from services.registry.app import create_app

    async for client in start_service(create_app, settings, workers=False):
        for code in AREAS:
            r = await client.post("/areas", json={"code": code, "name": code}, headers=admin_headers)
            assert r.status_code == 201, r.text
        yield client


async def test_a_worker_dying_between_the_post_and_its_record_repeats_with_the_same_key(
    registry_without_workers: httpx.AsyncClient, receiver: RecordingReceiver, database_url: str
) -> None:
    client = registry_without_workers
    receiver.hold_first = True
    correlation_id = await _search(client, receiver.base)
    key = f"dci:on-search:{correlation_id}"
    sessionmaker = client.app.state.runtime.sessionmaker  # type: ignore[attr-defined]

    def worker() -> Scheduler:
        return Scheduler(service="registry", schema="registry", sessionmaker=sessionmaker,
                         handlers={REPLY_JOB: reply_job}, lease_seconds=1.0, poll_interval=0.05)

    dying = asyncio.create_task(worker().run_due())
    await asyncio.wait_for(receiver.first_arrived.wait(), timeout=20)
    dying.cancel()  # the worker dies with its POST delivered and no outcome recorded
    with contextlib.suppress(asyncio.CancelledError):
        await dying
    receiver.release.set()
    assert await _effect(database_url, key) == {"status": "attempted", "attempts": 1, "result": None}

    await asyncio.sleep(1.2)  # the dead worker's lease expires
    assert await worker().run_due() >= 1  # the job is taken over and POSTs again
    first, repeat = receiver.calls
    assert first["key"] == repeat["key"] == key  # the receiver can tell the repeat ...
    assert first["message_id"] == repeat["message_id"]  # ... by the header and by the DCI message_id
    assert repeat["status_at_call"] == {"status": "attempted", "attempts": 2}
    effect = await _effect(database_url, key)
    assert effect is not None and effect["status"] == "sent" and effect["attempts"] == 2

    assert await worker().run_due() == 0  # done: nothing is sent a third time
    await asyncio.sleep(0.2)
    assert len(receiver.calls) == 2
