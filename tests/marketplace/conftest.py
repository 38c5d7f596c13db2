"""Marketplace test helpers: a service on a manual clock, a small rate card, vendors and workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from kernel.scheduler import ManualClock
from kernel.settings import Settings
from tests.conftest import identity_headers, start_service

# Monday 7 December 2026, 10:00 in India.
START = datetime(2026, 12, 7, 4, 30, tzinfo=timezone.utc)
DISTRICT = "IN-09-162"
BLOCK = "IN-09-162-820"
OTHER_BLOCK = "IN-09-162-821"
HERE = (26.85, 80.95)  # near Lucknow


def report_days() -> dict[str, str]:
    """``since``/``until`` for an adoption report that covers the rows a test just made.  Rows are stamped
    by the database's ``now()``, while a report's default window follows the service's clock (a
    ManualClock at START): after 18:30 UTC India is a day ahead of START's day and the default window
    missed every row."""
    today = datetime.now(timezone(timedelta(hours=5, minutes=30))).date()
    return {"since": str(today - timedelta(days=1)), "until": str(today + timedelta(days=1))}


def admin() -> dict[str, str]:
    return identity_headers(subject="mp-admin", roles=["auditor"], kind="client",
                            scopes=["marketplace:read", "marketplace:write", "marketplace:admin"],
                            area_scope=["IN", "BD"])


def vendor_user(subject: str) -> dict[str, str]:
    return identity_headers(subject=subject, roles=["vendor"], scopes=["marketplace:read", "marketplace:write"],
                            area_scope=["IN"])


def worker_login(subject: str) -> dict[str, str]:
    """A worker's own app: a client allowed to act as a worker (for the worker whose login it is)."""
    return identity_headers(subject=subject, kind="client", roles=["partner_app"],
                            scopes=["marketplace:read", "marketplace:write", "marketplace:worker_act"],
                            area_scope=["IN"])


def citizen_app(subject: str = "app-client-1") -> dict[str, str]:
    return identity_headers(subject=subject, kind="client", roles=["partner_app"], scopes=["marketplace:read",
                                                                             "marketplace:write"],
                            area_scope=["IN"])


def agent(subject: str = "agent-1") -> dict[str, str]:
    return identity_headers(subject=subject, roles=["call_centre_agent"], scopes=["marketplace:read",
                                                                                 "marketplace:write"],
                            area_scope=["IN"])


def officer(subject: str = "officer-1", area: str = DISTRICT) -> dict[str, str]:
    return identity_headers(subject=subject, roles=["department_officer"],
                            scopes=["marketplace:read", "marketplace:write"], area_scope=[area])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def mp(clean: None, settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    """The marketplace service (background workers off; tests run the scheduler by hand)."""
    from services.marketplace.app import create_app

    async for client in start_service(create_app, settings, clock=clock, workers=False):
        yield client


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def rate_card(mp: httpx.AsyncClient, *, rare: bool = False) -> None:
    h = admin()
    for code, name in (("plumbing", "Plumber"), ("electrical", "Electrician")):
        await ok(await mp.post("/categories", json={"code": code, "name": name}, headers=h), 201)
    items = [("plumbing.tap", "plumbing", "job", 25000), ("plumbing.visit", "plumbing", "visit", 10000),
             ("plumbing.pipe_m", "plumbing", "extra", 5000), ("electrical.fan", "electrical", "job", 30000)]
    for code, category, kind, amount in items:
        await ok(await mp.post("/rate-items", json={"code": code, "category_code": category, "kind": kind,
                                                    "name": code}, headers=h), 201)
        await ok(await mp.post("/rates", json={"item_code": code, "area_code": "IN-09", "valid_from": "2026-01-01",
                                               "amount_minor": amount}, headers=h), 201)
    await ok(await mp.put("/categories/plumbing/cancellation-terms", json={
        "free_before_minutes": 120, "assigned_fee_minor": 5000, "dispatched_fee": "visit_charge",
        "offer_timeout_seconds": 60}, headers=h))


async def vendor(mp: httpx.AsyncClient, code: str = "vendor-a", members: list[str] | None = None) -> str:
    body = {"code": code, "name": code, "area_code": DISTRICT, "members": members or [f"{code}-staff"]}
    return (await ok(await mp.post("/vendors", json=body, headers=admin()), 201))["id"]  # type: ignore[no-any-return]


async def worker(mp: httpx.AsyncClient, vendor_id: str, *, km_east: float = 1.0, skills: list[str] | None = None,
                 name: str = "Ramesh", available: bool = True, operator: str | None = None,
                 radius_km: float = 20.0) -> str:
    lat, lon = HERE[0], HERE[1] + km_east / 99.4  # ~99.4 km per degree of longitude at 26.85°N
    body = {"vendor_id": vendor_id, "name": name, "phone": "+919876543210", "home_area_code": BLOCK,
            "service_area_code": BLOCK, "home_lat": lat, "home_lon": lon, "skills": skills or ["plumbing"],
            "service_radius_km": radius_km, "operator_subject": operator}
    wid: str = (await ok(await mp.post("/workers", json=body, headers=admin()), 201))["id"]
    if available:
        await ok(await mp.put(f"/workers/{wid}/availability", json={"available": True}, headers=admin()))
    return wid


def booking_body(**extra: Any) -> dict[str, Any]:
    return {"job_code": "plumbing.tap", "area_code": BLOCK, "lat": HERE[0], "lon": HERE[1],
            "address": "Ward 4, near the school", "customer_name": "Sita Devi", "customer_phone": "+919812345678",
            **extra}


async def run_jobs(mp: httpx.AsyncClient, clock: ManualClock, advance: timedelta) -> int:
    clock.advance(advance)
    return await mp.app.state.runtime.scheduler.run_due()  # type: ignore[attr-defined,no-any-return]
