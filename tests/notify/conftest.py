"""Notify test harness: the Twilio stand-in as its own process, the notify service on a real port.

The real ``twilio`` SDK (aiohttp) needs real sockets, and the stand-in must be able to call our
callbacks back, so both run as servers: the stand-in in a subprocess for the whole session, the
service under uvicorn in the test's event loop for each test (its dispatcher run by the test, round by
round, so nothing happens behind a test's back).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from gramsetu.embedded import free_port, port_open
from kernel.scheduler import ManualClock
from kernel.settings import Settings
from services.notify.settings import get_notify_settings
from tests.conftest import identity_headers, truncate

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-notify-twilio-token"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def standin_url() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "GRAMSETU_NOTIFY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "GRAMSETU_NOTIFY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "services.notify.twilio_standin", "--port", str(port)], env=env,
                            cwd=ROOT)
    deadline = time.monotonic() + 20
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Twilio stand-in did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def notify_port() -> int:
    return free_port()


@pytest.fixture(scope="session", autouse=True)
def notify_env(standin_url: str, notify_port: int) -> Iterator[None]:
    """Point the service's settings at the stand-in and at its own public URL for callbacks."""
    saved = dict(os.environ)
    os.environ.update({
        "GRAMSETU_NOTIFY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "GRAMSETU_NOTIFY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "GRAMSETU_NOTIFY_TWILIO_API_BASE": standin_url,
        "GRAMSETU_NOTIFY_PUBLIC_CALLBACK_BASE": f"http://127.0.0.1:{notify_port}",
        "GRAMSETU_NOTIFY_RETRY_BASE_SECONDS": "1",
        # Webhooks: a crashed worker's lane job is taken over after 1 s; paused after 4 failed attempts.
        "GRAMSETU_NOTIFY_WEBHOOK_LEASE_SECONDS": "1", "GRAMSETU_NOTIFY_WEBHOOK_PAUSE_AFTER_FAILURES": "4",
        "GRAMSETU_NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "3",
    })
    get_notify_settings.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_notify_settings.cache_clear()


@dataclass
class Notify:
    """The running service, its clock, and handles on the stand-in."""

    url: str
    client: httpx.AsyncClient
    standin: httpx.AsyncClient
    app: Any
    clock: ManualClock
    headers: dict[str, str]

    @property
    def dispatcher(self) -> Any:
        return self.app.state.dispatcher

    async def records(self, kind: str = "message") -> list[dict[str, Any]]:
        return (await self.standin.get("/_standin/records", params={"kind": kind})).json()["records"]  # type: ignore[no-any-return]

    async def configure(self, **config: Any) -> None:
        r = await self.standin.post("/_standin/config", json=config)
        assert r.status_code == 200, r.text

    async def message(self, message_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/messages/{message_id}", headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def wait_status(self, message_id: str, *statuses: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await self.message(message_id)
            if found["status"] in statuses or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)

    async def wait_callbacks(self, sid: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            record = next(r for r in await self.records("call" if sid.startswith("CA") else "message")
                          if r["sid"] == sid)
            if len(record["callbacks"]) >= count or asyncio.get_running_loop().time() > deadline:
                return record["callbacks"]  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


def daytime_in_india(after: datetime) -> datetime:
    """``after`` itself when it is outside India's quiet hours (08:00-21:00 IST is 02:30-15:30 UTC), else the
    next 12:00 IST: the clock never goes back, whatever the real time of day the test runs at."""
    start, end = after.replace(hour=2, minute=30, second=0, microsecond=0), after.replace(hour=15, minute=30)
    if start <= after < end:
        return after
    noon = after.replace(hour=6, minute=30, second=0, microsecond=0)
    return noon if noon > after else noon + timedelta(days=1)


@pytest.fixture(scope="session")
async def notify_server(settings: Settings, standin_url: str, notify_port: int) -> AsyncIterator[tuple[Any, ManualClock]]:
    """One service process-in-the-loop for the session: starting a runtime per test would cost ~2 s each."""
    from services.notify.app import create_app

    clock = ManualClock(datetime.now(timezone.utc))
    app = create_app(settings, workers=False, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=notify_port, log_level="warning",
                                           access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield app, clock
    server.should_exit = True
    await task


async def _truncate_notify(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'notify' "
                                  "AND tablename <> 'alembic_version'")
        await truncate(conn, [f'notify."{t["tablename"]}"' for t in tables])
    finally:
        await conn.close()


@pytest.fixture
async def notify(notify_server: tuple[Any, ManualClock], database_url: str, standin_url: str,
                 notify_port: int) -> AsyncIterator[Notify]:
    """The running service with empty notify tables, a fresh stand-in, and the clock at the real now."""
    from services.notify.service.dispatch import Rates

    app, clock = notify_server
    await _truncate_notify(database_url)
    clock.set(datetime.now(timezone.utc))
    dispatcher = app.state.dispatcher
    dispatcher.rates, dispatcher.after_provider = Rates(dispatcher.settings), None
    app.state.webhooks.after_send = None
    app.state.provider.http.api_base, app.state.provider.http.timeout = standin_url, 10.0
    url = f"http://127.0.0.1:{notify_port}"
    async with httpx.AsyncClient(base_url=url, timeout=20) as client, \
            httpx.AsyncClient(base_url=standin_url, timeout=20) as standin:
        await standin.post("/_standin/reset")
        yield Notify(url, client, standin, app, clock, identity_headers())


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


TEMPLATES = {
    "en": {"body": "Dear {name}, {child} is due for {vaccine} on {date} at the anganwadi centre.",
           "dlt_text": "Dear {#var#}, {#var#} is due for {#var#} on {#var#} at the anganwadi centre."},
    "hi": {"body": "प्रिय {name}, {child} का {vaccine} टीका {date} को आंगनवाड़ी केंद्र पर लगेगा।",
           "dlt_text": "प्रिय {#var#}, {#var#} का {#var#} टीका {#var#} को आंगनवाड़ी केंद्र पर लगेगा।"},
    "bn": {"body": "প্রিয় {name}, {child}-এর {vaccine} টিকা {date} তারিখে অঙ্গনওয়াড়ি কেন্দ্রে দেওয়া হবে।",
           "dlt_text": "প্রিয় {#var#}, {#var#}-এর {#var#} টিকা {#var#} তারিখে অঙ্গনওয়াড়ি কেন্দ্রে দেওয়া হবে।"},
}
VARIABLES = {"name": "Sunita", "child": "Ravi", "vaccine": "Penta-2", "date": "12-01-2027"}


async def add_templates(notify: Notify, key_: str = "vaccination_due", **extra: Any) -> None:
    for language, texts in TEMPLATES.items():
        r = await notify.client.post("/templates", headers=notify.headers, json={
            "key": key_, "language": language, "category": "service", "dlt_entity_id": "1101234567890123456",
            "dlt_template_id": f"11072{abs(hash(language)) % 10**14:014d}", "dlt_header": "GRMSTU",
            **texts, **extra})
        assert r.status_code == 201, r.text


async def send(notify: Notify, to: str = "+919812345678", *, language: str = "en", area: str = "IN-23-0456",
               **extra: Any) -> httpx.Response:
    body = {"idempotency_key": key(), "template_key": "vaccination_due", "language": language, "to": to,
            "area_code": area, "variables": VARIABLES, **extra}
    return await notify.client.post("/messages", headers=notify.headers, json=body)
