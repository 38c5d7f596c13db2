"""Counters move only for what was committed; the adoption gauges are scheduled at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from kernel.scheduler import ManualClock
from kernel.settings import Settings
from services.marketplace.service.common import after_commit
from services.marketplace.service.reports import GAUGE_JOB
from tests.conftest import start_service
from tests.marketplace.conftest import (
    START,
    booking_body,
    citizen_app,
    ok,
    rate_card,
    vendor,
    vendor_user,
    worker,
)


async def test_after_commit_runs_only_for_what_committed(mp: httpx.AsyncClient) -> None:
    sessionmaker = mp.app.state.sessionmaker  # type: ignore[attr-defined]
    ran: list[str] = []
    async with sessionmaker() as session:
        async with session.begin():
            await session.execute(text("SELECT 1"))
            after_commit(session, lambda: ran.append("outer"))
            with pytest.raises(ValueError):
                async with session.begin_nested():
                    after_commit(session, lambda: ran.append("rolled-back savepoint"))
                    raise ValueError
            async with session.begin_nested():
                after_commit(session, lambda: ran.append("released savepoint"))
            assert ran == []  # a released savepoint is not a commit
        assert ran == ["outer", "released savepoint"]
        async with session.begin():
            after_commit(session, lambda: ran.append("rolled back"))
            await session.rollback()
    assert ran == ["outer", "released savepoint"]


def _bookings(category: str = "plumbing") -> float:
    return REGISTRY.get_sample_value("gramsetu_marketplace_bookings_total",
                                     {"channel": "app", "category": category, "district": "IN-09-162"}) or 0.0


async def test_a_booking_counts_once_and_a_refused_one_not_at_all(mp: httpx.AsyncClient) -> None:
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    before = _bookings()
    await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
    assert _bookings() == before + 1
    r = await mp.post("/bookings", json=booking_body(slot_start=(START - timedelta(days=1)).isoformat()),
                      headers=citizen_app())
    assert r.status_code == 422
    assert _bookings() == before + 1


def _earnings() -> float:
    return REGISTRY.get_sample_value("gramsetu_marketplace_earnings_minor_total",
                                     {"category": "plumbing", "district": "IN-09-162", "currency": "INR"}) or 0.0


async def test_a_completed_job_adds_its_price_and_extras_to_earnings_once(mp: httpx.AsyncClient) -> None:
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    staff = vendor_user("vendor-a-staff")
    b = await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
    bid, codes = b["id"], b["codes"]
    for step in ("accept", "depart", "arrive"):
        await ok(await mp.post(f"/bookings/{bid}/{step}", headers=staff))
    await ok(await mp.post(f"/bookings/{bid}/start", json={"otp": codes["start"]}, headers=staff))
    await ok(await mp.post(f"/bookings/{bid}/extras", json={"item_code": "plumbing.pipe_m", "quantity": 2},
                           headers=staff))
    before = _earnings()
    wrong = "0000" if codes["completion"] != "0000" else "1111"
    r = await mp.post(f"/bookings/{bid}/complete", json={"otp": wrong}, headers=staff)
    assert r.status_code == 422
    assert _earnings() == before  # a refused completion earns nothing
    await ok(await mp.post(f"/bookings/{bid}/complete", json={"otp": codes["completion"]}, headers=staff))
    assert _earnings() == before + 25000 + 2 * 5000
    r = await mp.post(f"/bookings/{bid}/complete", json={"otp": codes["completion"]}, headers=staff)
    assert r.status_code == 409
    assert _earnings() == before + 35000


@pytest.fixture
async def running(clean: None, settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    from services.marketplace.app import create_app

    async for client in start_service(create_app, settings, clock=clock, workers=True):
        yield client


async def test_the_adoption_gauges_run_from_start_up_before_any_booking(running: httpx.AsyncClient) -> None:
    sessionmaker = running.app.state.sessionmaker  # type: ignore[attr-defined]
    due = None
    for _ in range(200):  # the scheduler runs it at once (due at start-up) and books the next run
        async with sessionmaker() as session:
            due = (await session.execute(text("SELECT due_at FROM marketplace.scheduled_job WHERE kind = :k"),
                                         {"k": GAUGE_JOB})).scalar()
        if due == START + timedelta(minutes=5):
            break
        await asyncio.sleep(0.05)
    assert due == START + timedelta(minutes=5)
    async with sessionmaker() as session:
        assert (await session.execute(text("SELECT count(*) FROM marketplace.booking"))).scalar() == 0
    assert REGISTRY.get_sample_value("gramsetu_marketplace_adoption", {"measure": "idle_workers"}) is not None
