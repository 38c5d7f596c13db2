"""Calls per day: a call-centre call that ends without a booking is recorded, and the adoption
report counts every call and the calls that booked."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlparse

import asyncpg
import httpx
from alembic import command
from prometheus_client import REGISTRY

from kernel.migrations import alembic_config
from tests.marketplace.conftest import (
    BLOCK,
    DISTRICT,
    agent,
    booking_body,
    citizen_app,
    officer,
    ok,
    rate_card,
    report_days,
    vendor,
    worker,
)


def _calls(outcome: str) -> float:
    return REGISTRY.get_sample_value("gramsetu_marketplace_calls_total",
                                     {"outcome": outcome, "district": DISTRICT}) or 0.0


async def test_calls_per_day_count_the_calls_that_booked_and_those_that_did_not(mp: httpx.AsyncClient) -> None:
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    booked_before, no_worker_before = _calls("booked"), _calls("no_worker")
    desk = agent("agent-3")
    call = await ok(await mp.post("/calls", json={"area_code": BLOCK, "category_code": "electrical",
                                                  "outcome": "no_worker", "note": "fan repair tonight"},
                                  headers=desk), 201)
    assert call["agent"] == "agent-3" and call["outcome"] == "no_worker" and call["category_code"] == "electrical"
    await ok(await mp.post("/calls", json={"area_code": BLOCK, "outcome": "enquiry"}, headers=desk), 201)
    await ok(await mp.post("/bookings", json=booking_body(channel="call_centre"), headers=desk), 201)
    await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
    assert _calls("booked") == booked_before + 1 and _calls("no_worker") == no_worker_before + 1

    me = officer()
    [day] = (await ok(await mp.get("/reports/adoption", params={"group": "day", **report_days()}, headers=me)))["rows"]
    assert (day["bookings"], day["calls"], day["assisted"]) == (2, 3, 1)
    by_channel = await ok(await mp.get("/reports/adoption", params={"group": "channel", **report_days()}, headers=me))
    assert {r["key"]: (r["bookings"], r["calls"], r["assisted"]) for r in by_channel["rows"]} == {
        "app": (1, 0, 0), "call_centre": (1, 3, 1)}
    by_category = await ok(await mp.get("/reports/adoption", params={"group": "category", **report_days()}, headers=me))
    assert {r["key"]: (r["bookings"], r["calls"]) for r in by_category["rows"]} == {
        "-": (0, 1), "electrical": (0, 1), "plumbing": (2, 1)}
    [area] = (await ok(await mp.get("/reports/adoption", params={"group": "area", **report_days()}, headers=me)))["rows"]
    assert (area["key"], area["calls"]) == (DISTRICT, 3)
    elsewhere = officer("officer-2", area="IN-09-163")
    assert (await ok(await mp.get("/reports/adoption", params=report_days(), headers=elsewhere)))["rows"] == []


async def test_only_the_call_centre_records_calls_and_bad_input_names_the_field(mp: httpx.AsyncClient) -> None:
    await rate_card(mp)
    before = _calls("price")
    r = await mp.post("/calls", json={"area_code": BLOCK, "outcome": "enquiry"}, headers=citizen_app())
    assert r.status_code == 403
    r = await mp.post("/calls", json={"area_code": "BD-40", "outcome": "enquiry"}, headers=agent())
    assert r.status_code == 403  # outside the agent's area scope
    for body, field in (({"area_code": BLOCK, "outcome": "bored"}, "outcome"),
                        ({"area_code": BLOCK, "outcome": "price", "category_code": "welding"}, "category_code"),
                        ({"area_code": "Lucknow", "outcome": "price"}, "area_code")):
        r = await mp.post("/calls", json=body, headers=agent())
        assert r.status_code == 422, r.text
        assert field in {e["field"].split(".")[-1] for e in r.json()["errors"]}, r.json()
    assert _calls("price") == before
    day = (await ok(await mp.get("/reports/adoption", params=report_days(), headers=officer())))["rows"]
    assert day == []  # refused calls are not counted


def test_migration_0007_adds_the_call_table_to_a_database_made_before_it(pg_server_url: str) -> None:
    name = f"{os.environ.get('GRAMSETU_TEST_DB_PREFIX', 'gramsetu_test')}_calls"
    url = urlparse(pg_server_url)._replace(path=f"/{name}").geturl()

    async def sql(statement: str, server: bool = False) -> list[str]:
        conn = await asyncpg.connect(pg_server_url if server else url)
        try:
            return [str(r[0]) for r in await conn.fetch(statement)]
        finally:
            await conn.close()

    exists = "SELECT count(*) FROM pg_tables WHERE schemaname = 'marketplace' AND tablename = 'call'"
    asyncio.run(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server=True))
    asyncio.run(sql(f'CREATE DATABASE "{name}"', server=True))
    cfg = alembic_config("marketplace", url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "0006")
    assert asyncio.run(sql(exists)) == ["0"]
    command.upgrade(cfg, "head")
    assert asyncio.run(sql(exists)) == ["1"]
    assert asyncio.run(sql("INSERT INTO marketplace.call (area_code, outcome, agent) VALUES ('IN-09', 'later', 'a') "
                           "RETURNING outcome")) == ["later"]
    asyncio.run(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server=True))
