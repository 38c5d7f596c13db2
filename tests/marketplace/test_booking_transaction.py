"""POST /bookings runs in a transaction of its own on raw asyncpg: what it answers is what was committed."""

from __future__ import annotations

import asyncpg
import httpx
from prometheus_client import REGISTRY

from tests.marketplace.conftest import booking_body, citizen_app, officer, ok, rate_card, vendor, worker


def _count(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _bookings() -> float:
    return _count("gramsetu_marketplace_bookings_total",
                  {"channel": "app", "category": "plumbing", "district": "IN-09-162"})


async def _scalar(database_url: str, sql: str) -> object:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_a_booking_whose_commit_fails_answers_503_and_leaves_nothing(mp: httpx.AsyncClient,
                                                                          database_url: str) -> None:
    await rate_card(mp)
    w = await worker(mp, await vendor(mp))
    before = _bookings()
    conn = await asyncpg.connect(database_url)
    try:  # a check deferred to COMMIT that fails: the statements all succeed, the commit does not
        await conn.execute(
            "CREATE FUNCTION marketplace.test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 'refused at commit'; END$$;"
            "CREATE CONSTRAINT TRIGGER test_refuse AFTER INSERT ON marketplace.booking "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION marketplace.test_refuse()")
        r = await mp.post("/bookings", json=booking_body(), headers=citizen_app())
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    finally:
        await conn.execute("DROP TRIGGER IF EXISTS test_refuse ON marketplace.booking;"
                           "DROP FUNCTION IF EXISTS marketplace.test_refuse()")
        await conn.close()
    assert await _scalar(database_url, "SELECT count(*) FROM marketplace.booking") == 0
    assert await _scalar(database_url, "SELECT count(*) FROM marketplace.outbox "
                                       "WHERE subject LIKE 'marketplace.booking.%'") == 0
    assert await _scalar(database_url, "SELECT count(*) FROM marketplace.worker WHERE pending_offer IS NOT NULL") == 0
    assert _bookings() == before  # counted only once committed
    # The pool is still sound: the next booking goes through and gets the worker.
    b = await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
    assert b["status"] == "offered" and b["offer_worker_id"] == w
    assert _bookings() == before + 1


async def test_a_booking_nobody_can_take_is_recorded_and_looked_at_again(mp: httpx.AsyncClient,
                                                                         database_url: str) -> None:
    await rate_card(mp)  # no worker at all
    unmatched = _count("gramsetu_marketplace_unmatched_total", {"category": "plumbing"})
    b = await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
    assert b["status"] == "requested" and b["offer_worker_id"] is None
    assert await _scalar(database_url, "SELECT count(*) FROM marketplace.scheduled_job "
                                       f"WHERE kind = 'marketplace.rematch' AND key = '{b['id']}'") == 1
    assert await _scalar(database_url, "SELECT count(*) FROM marketplace.outbox "
                                       "WHERE subject LIKE 'marketplace.booking.created%'") == 1
    assert _count("gramsetu_marketplace_unmatched_total", {"category": "plumbing"}) == unmatched + 1


async def test_a_refused_booking_leaves_no_transaction_open(mp: httpx.AsyncClient, database_url: str) -> None:
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    before = _bookings()
    r = await mp.post("/bookings", json=booking_body(channel="department", office_code="no-such-office",
                                                     purchase_ref="PO-1"), headers=officer())
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "office_code"
    assert await _scalar(database_url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND state LIKE 'idle in transaction%'") == 0
    assert await _scalar(database_url, "SELECT count(*) FROM marketplace.booking") == 0
    assert _bookings() == before
    await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
