"""The creation hot path: routes cached per process but never used once stale, autocommit statements shared by
concurrent creations (group commit), no NOTIFY when nobody is listening, and concurrent creations that never
affect one another's answers."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import asyncpg
import httpx
from sqlalchemy import text

from kernel.db import asyncpg_dsn
from services.tickets.repository.tickets import LIVE_CHANNEL, LIVE_WATCHED
from services.tickets.service.live import LiveHub
from tests.tickets.conftest import ADMIN, DISTRICT, VILLAGE, Desks, worker


async def _sql(desks: Desks, statement: str, **params: object) -> None:
    """A change made behind this process's back (another replica, an operator): only the database knows."""
    runtime = desks.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(text(statement), params)


async def _resolution_due(desks: Desks, ticket_id: str) -> datetime:
    r = await desks.client.get(f"/{ticket_id}/sla", headers=ADMIN)
    return datetime.fromisoformat(next(c for c in r.json() if c["kind"] == "resolution")["deadline_at"])


async def test_a_desk_or_policy_changed_elsewhere_is_routed_by_at_once(desks: Desks) -> None:
    first = await desks.raise_ticket()  # routes (village, app_problem) to the block desk, and caches it
    assert first["desk_id"] == desks.ids["block"]
    # The block desk stops taking tickets, changed in the database directly: the cached route is stale.
    await _sql(desks, "UPDATE tickets.desk SET active = false WHERE id = :id", id=desks.ids["block"])
    second = await desks.raise_ticket()
    assert (second["desk_id"], second["level"]) == (desks.ids["district"], "district")
    # The district's resolution target doubles (480 -> 960 business minutes): the next ticket has it.
    before = await _resolution_due(desks, second["id"])
    await _sql(desks, "UPDATE tickets.sla_policy SET resolution_minutes = 960, version = version + 1 "
                      "WHERE level = 'district' AND category = '*'")
    third = await desks.raise_ticket()
    assert third["desk_id"] == desks.ids["district"]
    assert await _resolution_due(desks, third["id"]) > before
    # A desk added nearer the village (for its category) takes the next one, and a batch routes the same way.
    r = await desks.client.post("/desks", json={"name": "Village centre desk", "area_code": VILLAGE,
                                                "calendar_id": desks.calendar_id}, headers=ADMIN)
    assert r.status_code == 201, r.text
    fourth = await desks.raise_ticket()
    assert fourth["desk_id"] == r.json()["id"]
    body = {"category": "app_problem", "title": "Sync", "description": "No sync", "language": "hi",
            "area_code": VILLAGE, "reporter": {"name": "Sunita Devi", "phone": "+919876543210"}}
    batch = await desks.client.post("/batches", json={"tickets": [body, body | {"area_code": DISTRICT}]},
                                    headers=worker(area=DISTRICT))
    assert batch.status_code == 201, batch.text
    assert [t["desk_id"] for t in batch.json()["items"]] == [r.json()["id"], desks.ids["district"]]


async def test_a_creation_notifies_live_streams_only_while_one_is_open(desks: Desks) -> None:
    """Notifying commits are serialised cluster-wide, so no one pays for a NOTIFY nobody hears; a stream
    (which holds the watch) still hears every creation of its desk."""
    runtime = desks.client.app.state.runtime  # type: ignore[attr-defined]
    heard: list[str] = []
    conn = await asyncpg.connect(asyncpg_dsn(runtime.database_url))
    try:
        await conn.add_listener(LIVE_CHANNEL, lambda *args: heard.append(args[-1]))
        await desks.raise_ticket()
        await asyncio.sleep(0.3)
        assert heard == []  # listening without the watch: writers cannot know of this connection
        hub = LiveHub(asyncpg_dsn(runtime.database_url))  # as a desk stream's request opens it
        queue = await hub.subscribe(f"desk:{desks.ids['block']}")
        try:
            ticket = await desks.raise_ticket()
            deadline = asyncio.get_running_loop().time() + 10
            while not heard and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            assert len(heard) == 1 and ticket["id"] in heard[0]
            woken = [await asyncio.wait_for(queue.get(), 10)]  # the hub's own connection hears it too
            while woken[-1] == 0:  # (0: the hub's wake-up once older transactions ended)
                woken.append(await asyncio.wait_for(queue.get(), 10))
            assert woken[-1] == json.loads(heard[0])["seq"]
        finally:
            await hub.unsubscribe(f"desk:{desks.ids['block']}", queue)
        heard.clear()
        await desks.raise_ticket()  # the last stream closed: the watch went with its connection
        await asyncio.sleep(0.3)
        assert heard == []
    finally:
        await conn.close()


async def test_a_stream_opened_while_an_unnotified_write_commits_reads_it(desks: Desks) -> None:
    """A writer that looked before any stream held the watch sends no NOTIFY; a stream that opens before it
    commits is woken once every transaction older than its watch has ended, so it reads the entry then."""
    runtime = desks.client.app.state.runtime  # type: ignore[attr-defined]
    writer = await asyncpg.connect(asyncpg_dsn(runtime.database_url))
    hub = LiveHub(asyncpg_dsn(runtime.database_url))
    try:
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute("SELECT pg_current_xact_id()")  # a write's transaction id
        assert await writer.fetchval(f"SELECT {LIVE_WATCHED}") is False  # so it would not notify
        queue = await hub.subscribe(f"desk:{desks.ids['block']}")
        await asyncio.sleep(0.3)
        assert queue.empty()  # still waiting for that older transaction
        await transaction.commit()
        assert await asyncio.wait_for(queue.get(), timeout=10) == 0  # woken to read the table again
        assert await writer.fetchval(f"SELECT {LIVE_WATCHED}") is True
        await hub.unsubscribe(f"desk:{desks.ids['block']}", queue)
    finally:
        await hub.stop()
        await writer.close()


async def test_concurrent_creations_each_get_their_own_answer(desks: Desks) -> None:
    """One statement per ticket on a connection of its own: a bad request among many fails alone."""
    good = {"category": "app_problem", "title": "Sync", "description": "No sync", "language": "hi",
            "area_code": VILLAGE, "reporter": {"name": "Sunita Devi", "phone": "+919876543210"}}
    bad = good | {"area_code": "BD-40-87-90-54-08"}  # in the caller's scope below, but no desk there
    headers = worker(area="IN")
    headers_bd = worker(area="BD")
    bodies = [(bad, headers_bd) if i % 5 == 0 else (good | {"title": f"Sync {i}"}, headers) for i in range(30)]
    # Straight to the app: the test client's lifespan wrapper (asgi_lifespan) hands every request one shared
    # ``scope["state"]``, so concurrent requests through it would share a database session; uvicorn copies it.
    transport = httpx.ASGITransport(app=desks.client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        replies = await asyncio.gather(*(client.post("/", json=b, headers=h) for b, h in bodies))
    for (body, _), reply in zip(bodies, replies, strict=True):
        if body is bad:
            assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "area_code"
        else:
            assert reply.status_code == 201, reply.text
            assert reply.json()["title"] == body["title"] and reply.json()["desk_id"] == desks.ids["block"]
    created = [r.json() for r in replies if r.status_code == 201]
    assert len({t["tracking_number"] for t in created}) == len(created) == 24
    async with desks.client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        counts = (await session.execute(text(
            "SELECT (SELECT count(*) FROM tickets.ticket), (SELECT count(*) FROM tickets.outbox "
            "WHERE subject = 'tickets.ticket.created.v1'), (SELECT count(*) FROM tickets.ticket_sla), "
            "(SELECT count(*) FROM tickets.timeline WHERE kind = 'created')"))).one()
    assert tuple(counts) == (24, 24, 48, 24)


async def test_concurrent_creations_share_commits_and_each_waits_for_its_own(desks: Desks) -> None:
    """Group commit: creations arriving while a statement runs go together in the next one (one transaction,
    so one xmin), and every answer comes only once that ticket is committed and readable."""
    body = {"category": "app_problem", "title": "Sync", "description": "No sync", "language": "hi",
            "area_code": VILLAGE, "reporter": {"name": "Sunita Devi", "phone": "+919876543210"}}
    transport = httpx.ASGITransport(app=desks.client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        replies = await asyncio.gather(*(client.post("/", json=body | {"title": f"Sync {i}"}, headers=worker())
                                         for i in range(40)))
        assert all(r.status_code == 201 for r in replies), [r.text for r in replies if r.status_code != 201]
        for reply in replies:  # committed before answering: every one is there to read
            assert (await client.get(f"/{reply.json()['id']}", headers=ADMIN)).status_code == 200
    async with desks.client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        tickets, commits = (await session.execute(text(
            "SELECT count(*), count(DISTINCT xmin::text) FROM tickets.ticket"))).one()
        events = await session.scalar(text("SELECT count(*) FROM tickets.outbox"))
    assert tickets == events == 40
    assert commits < 40
