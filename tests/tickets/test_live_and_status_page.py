"""The live SSE stream and the public status page, over real HTTP; the page as headless chromium shows it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kernel.scheduler import ManualClock
from kernel.settings import Settings
from tests.gateway.conftest import Served
from tests.tickets.conftest import ADMIN, BLOCK_AGENT, MONDAY_11, Desks, setup_desks, worker

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("GRAMSETU_TEST_ARTIFACTS", "/tmp/gramsetu-test-artifacts"))


@pytest.fixture
async def served(clean: None, settings: Settings) -> AsyncIterator[Desks]:
    """The tickets service on a real socket (streams and a browser need one), desks set up."""
    from services.tickets.app import create_app
    clock = ManualClock(MONDAY_11)
    async with Served(create_app(settings, clock=clock, workers=False)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            client.app = server.server.config.app  # type: ignore[attr-defined]
            client.clock = clock  # type: ignore[attr-defined]
            d = await setup_desks(client)
            d.base_url = server.url  # type: ignore[attr-defined]
            yield d


async def _read_events(client: httpx.AsyncClient, url: str, headers: dict[str, str], count: int,
                       ready: asyncio.Event) -> list[dict]:
    events: list[dict] = []
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        ready.set()
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == count:
                    return events
    return events


async def test_ticket_stream_replays_then_follows_live_changes(served: Desks) -> None:
    ticket = await served.raise_ticket()
    ready = asyncio.Event()
    url = f"/{ticket['id']}/stream"
    reader = asyncio.create_task(_read_events(served.client, url, worker(), 3, ready))
    await asyncio.wait_for(ready.wait(), 10)
    await served.client.post(f"/{ticket['id']}/comments", json={"body": "internal", "visibility": "internal"},
                             headers=BLOCK_AGENT)
    await served.client.post(f"/{ticket['id']}/assignment", json={"agent": "block-agent"},
                             headers=BLOCK_AGENT)
    await served.client.post(f"/{ticket['id']}/comments", json={"body": "We are on it"}, headers=BLOCK_AGENT)
    await served.client.post(f"/{ticket['id']}/escalations", json={"reason": "server side"},
                             headers=BLOCK_AGENT)
    events = await asyncio.wait_for(reader, 15)
    # The reporter's stream: the creation (replayed), then public entries only, in order.
    assert [e["kind"] for e in events] == ["created", "comment", "escalated"]
    assert events[1]["body"] == "We are on it" and events[2]["data"]["to_level"] == "district"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)


async def test_desk_stream_shows_new_tickets_and_tickets_escalated_away(served: Desks) -> None:
    ready = asyncio.Event()
    reader = asyncio.create_task(_read_events(served.client, f"/desks/{served.ids['block']}/stream",
                                              BLOCK_AGENT, 3, ready))
    await asyncio.wait_for(ready.wait(), 10)
    first = await served.raise_ticket()
    second = await served.raise_ticket(title="Tablet battery does not charge")
    r = await served.client.post(f"/{first['id']}/escalations", json={"reason": "needs the district"},
                                 headers=BLOCK_AGENT)
    assert r.status_code == 200
    events = await asyncio.wait_for(reader, 15)
    assert [(e["ticket_id"], e["kind"]) for e in events] == [
        (first["id"], "created"), (second["id"], "created"), (first["id"], "escalated")]
    assert events[2]["from_desk_id"] == served.ids["block"] and events[2]["desk_id"] == served.ids["district"]
    assert (await served.client.get(f"/desks/{served.ids['block']}/stream", headers=worker())).status_code == 404


async def _collect(client: httpx.AsyncClient, url: str, headers: dict[str, str], into: list[tuple[str, dict]],
                   ready: asyncio.Event) -> None:
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        ready.set()
        event_id = ""
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                into.append((event_id, json.loads(line[6:])))


async def _wait_for(events: list, count: int, seconds: float = 10) -> None:
    for _ in range(int(seconds * 20)):
        if len(events) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(events)} events, expected {count}")


async def test_desk_stream_resumes_with_no_gap_when_an_earlier_entry_commits_late(served: Desks) -> None:
    """A transaction that wrote the desk's entry first but commits last: the stream holds later entries back
    until it ends, then hands out both in order; resuming from either id gives exactly what followed it."""
    import asyncpg

    from kernel.db import asyncpg_dsn

    first = await served.raise_ticket()
    desk, url = served.ids["block"], f"/desks/{served.ids['block']}/stream"
    events: list[tuple[str, dict]] = []
    ready = asyncio.Event()
    reader = asyncio.create_task(_collect(served.client, url, BLOCK_AGENT, events, ready))
    await asyncio.wait_for(ready.wait(), 10)
    app = served.client.app  # type: ignore[attr-defined]
    slow = await asyncpg.connect(asyncpg_dsn(app.state.runtime.database_url))
    try:
        tx = slow.transaction()
        await tx.start()
        # A writer of this desk's timeline that is slow to commit (a long request, a paused replica).
        await slow.execute(
            "INSERT INTO tickets.timeline (ticket_id, desk_id, at, actor, actor_kind, kind, public) "
            "VALUES ($1, $2, now(), 'block-agent', 'agent', 'comment', false)", uuid.UUID(first["id"]), uuid.UUID(desk))
        second = await served.raise_ticket(title="Committed while the other is still open")
        await asyncio.sleep(1.0)
        assert events == []  # held back: an older transaction may still add an entry before it
        await slow.execute("SELECT pg_notify('tickets_live', $1)",
                           json.dumps({"ticket": first["id"], "desks": [desk], "seq": 0}))
        await tx.commit()
    finally:
        await slow.close()
    await _wait_for(events, 2)
    reader.cancel()
    assert [e["kind"] for _, e in events] == ["comment", "created"] and events[1][1]["ticket_id"] == second["id"]
    # Resume after the first: exactly the second, no duplicate, then live entries.
    resumed: list[tuple[str, dict]] = []
    ready = asyncio.Event()
    reader = asyncio.create_task(_collect(served.client, url, BLOCK_AGENT | {"Last-Event-ID": events[0][0]},
                                          resumed, ready))
    await asyncio.wait_for(ready.wait(), 10)
    await served.raise_ticket(title="After the reconnect")
    await _wait_for(resumed, 2)
    reader.cancel()
    assert resumed[0][0] == events[1][0] and resumed[1][1]["kind"] == "created"
    assert resumed[1][1]["ticket_id"] not in (first["id"], second["id"])
    bad = await served.client.get(url, headers=BLOCK_AGENT | {"Last-Event-ID": "12"})
    assert bad.status_code == 422 and "Last-Event-ID" in bad.text


async def test_status_page_in_three_languages_without_private_entries(served: Desks) -> None:
    ticket = await served.raise_ticket()
    number = ticket["tracking_number"]
    await served.client.post(f"/{ticket['id']}/comments",
                             json={"body": "SECRET internal note", "visibility": "internal"}, headers=BLOCK_AGENT)
    await served.client.post(f"/{ticket['id']}/comments", json={"body": "Please restart the tablet"},
                             headers=BLOCK_AGENT)
    pages = {}
    for lang in ("hi", "bn", "en"):
        r = await served.client.get(f"/track/{number.lower().replace('-', ' ')}", params={"lang": lang})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        pages[lang] = r.text
    assert "शिकायत की स्थिति" in pages["hi"] and "অভিযোগের অবস্থা" in pages["bn"] and "Ticket status" in pages["en"]
    assert "ब्लॉक हेल्पडेस्क" in pages["hi"] and "08-12-2026" not in pages["en"]  # deadline is today, Monday
    for page in pages.values():
        assert "<script" not in page and "SECRET" not in page and "Please restart the tablet" in page
        assert "9876543210" not in page and "block-agent" not in page and number in page
    missing = await served.client.get("/track/AAAA-AAAA", headers={"Accept-Language": "bn-BD,bn;q=0.9"})
    assert missing.status_code == 404 and "ট্র্যাকিং" in missing.text


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)")
async def test_status_page_as_headless_chromium_renders_it(served: Desks) -> None:
    ticket = await served.raise_ticket(language="bn")
    await served.client.post(f"/{ticket['id']}/comments", json={"body": "ট্যাবলেটটি আবার চালু করুন"},
                             headers=BLOCK_AGENT)
    url = f"{served.base_url}/track/{ticket['tracking_number']}"  # type: ignore[attr-defined]
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "tickets-status-page.png"
    assert CHROMIUM is not None
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-javascript",
             "--window-size=360,740", "--lang=bn"]
    dom = await asyncio.to_thread(_run, [*flags, "--dump-dom", url])
    assert "অভিযোগের অবস্থা" in dom.stdout and ticket["tracking_number"] in dom.stdout, dom.stderr[-2000:]
    assert "ট্যাবলেটটি আবার চালু করুন" in dom.stdout and "ব্লক হেল্পডেস্ক" in dom.stdout
    if shot.exists():
        shot.unlink()
    await asyncio.to_thread(_run, [*flags, f"--screenshot={shot}", url])
    assert shot.exists() and shot.stat().st_size > 5_000
    assert ADMIN  # the page needed no credentials at all
