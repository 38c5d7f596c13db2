"""Tickets test helpers: a controllable clock, three desk levels in Madhya Pradesh, role headers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from kernel.auth import Identity, sign_identity
from kernel.scheduler import ManualClock, Scheduler
from kernel.settings import Settings, get_settings
from services.tickets.service.sla.clocks import BREACH_JOB
from tests.conftest import start_service

IST = ZoneInfo("Asia/Kolkata")
STATE, DISTRICT, BLOCK, VILLAGE = "IN-23", "IN-23-0456", "IN-23-0456-2210", "IN-23-0456-2210-123456-654321"
OTHER_BLOCK, OTHER_VILLAGE = "IN-23-0456-2211", "IN-23-0456-2211-123457-654322"
# Monday 7 December 2026, 11:00 IST: inside working hours.
MONDAY_11 = datetime(2026, 12, 7, 11, 0, tzinfo=IST)
POLICIES = {"block": (60, 240), "district": (120, 480), "state": (240, 960)}  # business minutes


def identity_headers(*, subject: str, roles: list[str] | None = None, scopes: list[str] | None = None,
                     area_scope: list[str] | None = None) -> dict[str, str]:
    """Gateway-signed identity headers valid for a day (module constants outlive the default TTL)."""
    identity = Identity(subject=subject, kind="user", roles=roles or ["admin"],
                        scopes=scopes if scopes is not None else ["*"],
                        area_scope=area_scope if area_scope is not None else ["IN", "BD"],
                        expires_at=time.time() + 86_400)
    return sign_identity(identity, get_settings().identity_secret)


def agent(area: str, subject: str, role: str = "block_helpdesk_agent") -> dict[str, str]:
    return identity_headers(subject=subject, roles=[role], scopes=["tickets:read", "tickets:write"],
                            area_scope=[area])


def worker(subject: str = "aww-1", area: str = VILLAGE) -> dict[str, str]:
    return identity_headers(subject=subject, roles=["anganwadi_worker"], scopes=["tickets:read", "tickets:write"],
                            area_scope=[area])


ADMIN = identity_headers(subject="admin-1")


@dataclass
class Desks:
    client: httpx.AsyncClient
    clock: ManualClock
    ids: dict[str, str] = field(default_factory=dict)
    calendar_id: str = ""

    async def run_due(self, *kinds: str) -> int:
        """Run the jobs of these kinds (default: the SLA deadlines) due on the test clock; returns how many ran."""
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        handlers = {kind: runtime.scheduler.handlers[kind] for kind in kinds or (BREACH_JOB,)}
        scheduler = Scheduler(service="tickets", schema="tickets", sessionmaker=runtime.sessionmaker,
                              handlers=handlers, clock=self.clock)
        return await scheduler.run_due()

    async def advance(self, delta: timedelta) -> int:
        self.clock.advance(delta)
        return await self.run_due()

    async def raise_ticket(self, headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
        body = {"category": "app_problem", "title": "Poshan Tracker does not sync",
                "description": "Growth data entered on Monday is not visible.", "language": "hi",
                "area_code": VILLAGE, "reporter": {"name": "Sunita Devi", "phone": "+919876543210"}} | extra
        r = await self.client.post("/", json=body, headers=headers or worker())
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def act(self, ticket_id: str, action: str, headers: dict[str, str], **extra: Any) -> httpx.Response:
        return await self.client.post(f"/{ticket_id}/transitions", json={"action": action, **extra},
                                      headers=headers)

    async def get(self, ticket_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        r = await self.client.get(f"/{ticket_id}", headers=headers or ADMIN)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def outbox_subjects(self) -> list[str]:
        from sqlalchemy import text
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.sessionmaker() as session:
            rows = await session.execute(text("SELECT subject FROM tickets.outbox ORDER BY seq"))
            return [r[0] for r in rows]


async def make_calendar(client: httpx.AsyncClient, name: str = "MP offices", tz: str = "Asia/Kolkata",
                        **extra: Any) -> str:
    body = {"name": name, "timezone": tz,
            "working_hours": {d: [["10:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")},
            "saturdays_off": [2, 4]} | extra
    r = await client.post("/calendars", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]


@pytest.fixture
async def tickets_client(clean: None, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from services.tickets.app import create_app

    clock = ManualClock(MONDAY_11)
    async for client in start_service(create_app, settings, clock=clock, workers=False):
        client.clock = clock  # type: ignore[attr-defined]
        yield client


@pytest.fixture
async def desks(tickets_client: httpx.AsyncClient) -> Desks:
    return await setup_desks(tickets_client)


async def setup_desks(tickets_client: httpx.AsyncClient) -> Desks:
    """State, district and block desks of one calendar, SLA targets per level, one agent per desk."""
    d = Desks(tickets_client, tickets_client.clock)  # type: ignore[attr-defined]
    d.calendar_id = await make_calendar(tickets_client)
    for level, area in (("state", STATE), ("district", DISTRICT), ("block", BLOCK), ("other_block", OTHER_BLOCK)):
        r = await tickets_client.post("/desks", json={"name": f"{level} desk", "area_code": area,
                                                      "calendar_id": d.calendar_id}, headers=ADMIN)
        assert r.status_code == 201, r.text
        d.ids[level] = r.json()["id"]
        r = await tickets_client.put(f"/desks/{d.ids[level]}/agents",
                                     json={"subject": f"{level}-agent", "display_name": level}, headers=ADMIN)
        assert r.status_code == 200, r.text
    for level, (first, resolution) in POLICIES.items():
        r = await tickets_client.put("/sla-policies", json={"level": level, "category": "*",
                                                            "first_response_minutes": first,
                                                            "resolution_minutes": resolution}, headers=ADMIN)
        assert r.status_code == 200, r.text
    return d


BLOCK_AGENT = agent(BLOCK, "block-agent")
DISTRICT_AGENT = agent(DISTRICT, "district-agent", "district_helpdesk_agent")
STATE_AGENT = agent(STATE, "state-agent", "state_helpdesk_agent")
OTHER_BLOCK_AGENT = agent(OTHER_BLOCK, "other_block-agent")
