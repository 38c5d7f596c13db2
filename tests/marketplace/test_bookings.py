"""The booking lifecycle: offers and time-outs, races, codes, cancellation fees, fixed prices, access."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import httpx

from tests.marketplace.conftest import (
    START,
    admin,
    agent,
    booking_body,
    citizen_app,
    ok,
    rate_card,
    run_jobs,
    vendor,
    vendor_user,
    worker,
    worker_login,
)


async def book(mp, headers=None, **extra):
    return await ok(await mp.post("/bookings", json=booking_body(**extra), headers=headers or citizen_app()), 201)


async def test_full_lifecycle_with_codes_and_recorded_transitions(mp):
    await rate_card(mp)
    v = await vendor(mp)
    w = await worker(mp, v)
    staff = vendor_user("vendor-a-staff")
    b = await book(mp)
    assert b["status"] == "offered" and b["offer_worker_id"] == w and b["price_minor"] == 25000
    assert b["visit_charge_minor"] == 10000 and len(b["codes"]["start"]) == 4
    bid, codes = b["id"], b["codes"]
    await ok(await mp.post(f"/bookings/{bid}/accept", headers=staff))
    await ok(await mp.post(f"/bookings/{bid}/depart", headers=staff))
    await ok(await mp.post(f"/bookings/{bid}/arrive", headers=staff))
    await ok(await mp.post(f"/bookings/{bid}/start", json={"otp": codes["start"]}, headers=staff))
    extra = await ok(await mp.post(f"/bookings/{bid}/extras", json={"item_code": "plumbing.pipe_m", "quantity": 3},
                                   headers=staff))
    assert extra["extras_minor"] == 15000 and extra["total_minor"] == 40000
    done = await ok(await mp.post(f"/bookings/{bid}/complete", json={"otp": codes["completion"]}, headers=staff))
    assert done["status"] == "completed"
    rated = await ok(await mp.post(f"/bookings/{bid}/rating", json={"rating": 5}, headers=citizen_app()))
    assert rated["status"] == "rated"
    worker_now = await ok(await mp.get(f"/workers/{w}", headers=admin()))
    assert worker_now["rating"] == 5 and worker_now["completed_jobs"] == 1 and worker_now["active_jobs"] == 0
    steps = await ok(await mp.get(f"/bookings/{bid}/transitions", headers=citizen_app()))
    assert [s["to_status"] for s in steps] == ["requested", "offered", "assigned", "en_route", "at_location",
                                               "in_progress", "in_progress", "completed", "rated"]
    # Out of order is refused by the state machine.
    r = await mp.post(f"/bookings/{bid}/depart", headers=staff)
    assert r.status_code == 409 and r.json()["status_now"] == "rated"


async def test_wrong_codes_are_refused_counted_and_lock_the_booking(mp):
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    staff = vendor_user("vendor-a-staff")
    b = await book(mp)
    for step in ("accept", "depart", "arrive"):
        await ok(await mp.post(f"/bookings/{b['id']}/{step}", headers=staff))
    right = b["codes"]["start"]
    wrong = f"{(int(right) + 1) % 10000:04d}"
    r = await mp.post(f"/bookings/{b['id']}/start", json={"otp": wrong}, headers=staff)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "otp"
    r = await mp.post(f"/bookings/{b['id']}/start", json={"otp": b["codes"]["completion"]}, headers=staff)
    assert r.status_code == 422 or b["codes"]["completion"] == right  # the completion code does not start a job
    for _ in range(4):
        await mp.post(f"/bookings/{b['id']}/start", json={"otp": wrong}, headers=staff)
    r = await mp.post(f"/bookings/{b['id']}/start", json={"otp": right}, headers=staff)
    assert r.status_code == 409 and "locked" in r.json()["detail"]


async def test_offer_times_out_to_the_next_worker(mp, clock):
    await rate_card(mp)
    v = await vendor(mp)
    first = await worker(mp, v, km_east=1)
    second = await worker(mp, v, km_east=3)
    b = await book(mp)
    assert b["offer_worker_id"] == first
    await run_jobs(mp, clock, timedelta(seconds=30))  # not yet (timeout 60 s)
    assert (await ok(await mp.get(f"/bookings/{b['id']}", headers=admin())))["offer_worker_id"] == first
    await run_jobs(mp, clock, timedelta(seconds=31))
    now = await ok(await mp.get(f"/bookings/{b['id']}", headers=admin()))
    assert now["status"] == "offered" and now["offer_worker_id"] == second
    late = await mp.post(f"/bookings/{b['id']}/accept", headers=vendor_user("vendor-a-staff"))
    assert late.status_code == 200 and late.json()["worker_id"] == second  # the vendor accepts for the second
    steps = await ok(await mp.get(f"/bookings/{b['id']}/transitions", headers=admin()))
    assert [s["action"] for s in steps] == ["create", "offer", "offer_expired", "offer", "accept"]
    first_now = await ok(await mp.get(f"/workers/{first}", headers=admin()))
    assert first_now["active_jobs"] == 0


async def test_a_declined_offer_goes_to_the_next_and_an_expired_one_cannot_be_accepted(mp, clock):
    await rate_card(mp)
    v = await vendor(mp)
    a = await worker(mp, v, km_east=1, operator="worker-a")
    b_id = await worker(mp, v, km_east=2, operator="worker-b")
    b = await book(mp)
    worker_a, worker_b = worker_login("worker-a"), worker_login("worker-b")
    assert b["offer_worker_id"] == a
    r = await mp.post(f"/bookings/{b['id']}/accept", headers=worker_b)
    assert r.status_code == 404  # not offered to b: b cannot even see it
    after = await ok(await mp.post(f"/bookings/{b['id']}/decline", headers=worker_a))
    assert after["offer_worker_id"] == b_id
    clock.advance(timedelta(seconds=61))
    r = await mp.post(f"/bookings/{b['id']}/accept", headers=worker_b)
    assert r.status_code == 409 and "expired" in r.json()["detail"]


async def test_two_customers_race_for_the_last_worker(mp):
    await rate_card(mp)
    w = await worker(mp, await vendor(mp))
    # Straight to the app (not through the lifespan wrapper, which shares one request-state dict),
    # so the two requests run concurrently on their own sessions and connections.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mp.app), base_url="http://test") as direct:
        first, second = await asyncio.gather(book(direct, citizen_app("c1")), book(direct, citizen_app("c2")))
    offered = [b for b in (first, second) if b["status"] == "offered"]
    waiting = [b for b in (first, second) if b["status"] == "requested"]
    assert len(offered) == 1 and len(waiting) == 1 and offered[0]["offer_worker_id"] == w
    staff = vendor_user("vendor-a-staff")
    await ok(await mp.post(f"/bookings/{offered[0]['id']}/accept", headers=staff))
    r = await mp.post(f"/bookings/{waiting[0]['id']}/accept", headers=staff)
    assert r.status_code in (403, 404, 409)
    w_now = await ok(await mp.get(f"/workers/{w}", headers=admin()))
    assert w_now["active_jobs"] == 1


async def test_a_worker_claimed_while_the_booking_is_made_sends_it_to_the_next(mp, database_url):
    """The booking picks the nearest worker, but another booking's claim on that worker commits first:
    it is offered to the next one (not left waiting for a re-match)."""
    await rate_card(mp)
    v = await vendor(mp)
    near, further = await worker(mp, v, km_east=1), await worker(mp, v, km_east=3)
    other = await asyncpg.connect(database_url)
    try:
        claim = other.transaction()
        await claim.start()  # another booking's claim on the nearest worker, not committed yet
        await other.execute("UPDATE marketplace.worker SET pending_offer = gen_random_uuid() WHERE id = $1", near)
        await other.execute("UPDATE marketplace.worker_skill SET matchable = false WHERE worker_id = $1", near)
        booking = asyncio.create_task(book(mp))
        for _ in range(500):  # until the booking waits for that row
            if await other.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                    " AND wait_event_type = 'Lock'"):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the booking never waited for the worker's row")
        await claim.commit()
        b = await booking
    finally:
        await other.close()
    assert b["status"] == "offered" and b["offer_worker_id"] == further
    steps = await ok(await mp.get(f"/bookings/{b['id']}/transitions", headers=admin()))
    assert [(t["action"], t["to_status"], t["worker_id"]) for t in steps] == [
        ("create", "requested", None), ("offer", "offered", further)]


async def test_cancellation_fees_follow_the_terms(mp, clock):
    await rate_card(mp)
    v = await vendor(mp)
    for i in range(4):
        await worker(mp, v, km_east=1 + i)
    staff, me = vendor_user("vendor-a-staff"), citizen_app()
    reason = {"reason": "no longer needed"}
    # Before assignment: free.
    b = await book(mp)
    r = await ok(await mp.post(f"/bookings/{b['id']}/cancel", json=reason, headers=me))
    assert r["status"] == "cancelled" and r["cancellation_fee_minor"] == 0
    # Assigned, slot far away: free; inside the 120-minute window: the fixed fee.
    b = await book(mp, slot_start=(START + timedelta(hours=5)).isoformat())
    await ok(await mp.post(f"/bookings/{b['id']}/accept", headers=staff))
    r = await ok(await mp.post(f"/bookings/{b['id']}/cancel", json=reason, headers=me))
    assert r["cancellation_fee_minor"] == 0
    b = await book(mp, slot_start=(START + timedelta(minutes=90)).isoformat())
    await ok(await mp.post(f"/bookings/{b['id']}/accept", headers=staff))
    r = await ok(await mp.post(f"/bookings/{b['id']}/cancel", json=reason, headers=me))
    assert r["cancellation_fee_minor"] == 5000
    # On the way: the visit charge.  In progress: no longer cancellable.
    b = await book(mp)
    await ok(await mp.post(f"/bookings/{b['id']}/accept", headers=staff))
    await ok(await mp.post(f"/bookings/{b['id']}/depart", headers=staff))
    r = await ok(await mp.post(f"/bookings/{b['id']}/cancel", json=reason, headers=me))
    assert r["cancellation_fee_minor"] == 10000
    b = await book(mp)
    for step in ("accept", "depart", "arrive"):
        await ok(await mp.post(f"/bookings/{b['id']}/{step}", headers=staff))
    await ok(await mp.post(f"/bookings/{b['id']}/start", json={"otp": b["codes"]["start"]}, headers=staff))
    r = await mp.post(f"/bookings/{b['id']}/cancel", json=reason, headers=me)
    assert r.status_code == 409


async def test_provider_withdrawal_sends_the_job_to_the_next_worker_free_of_charge(mp):
    await rate_card(mp)
    v = await vendor(mp)
    first = await worker(mp, v, km_east=1)
    second = await worker(mp, v, km_east=2)
    staff = vendor_user("vendor-a-staff")
    b = await book(mp)
    await ok(await mp.post(f"/bookings/{b['id']}/accept", headers=staff))
    r = await ok(await mp.post(f"/bookings/{b['id']}/cancel", json={"reason": "tool broke", "by": "provider"},
                               headers=staff))
    assert r["status"] == "offered" and r["offer_worker_id"] == second and r["cancellation_fee_minor"] is None
    assert (await ok(await mp.get(f"/workers/{first}", headers=admin())))["active_jobs"] == 0


async def test_a_rate_changed_after_confirmation_does_not_change_the_booking(mp, clock):
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    b = await book(mp)
    await ok(await mp.post("/rates", json={"item_code": "plumbing.tap", "area_code": "IN-09",
                                           "valid_from": "2026-12-07", "amount_minor": 40000}, headers=admin()), 201)
    assert (await ok(await mp.get(f"/bookings/{b['id']}", headers=admin())))["price_minor"] == 25000
    quote = await ok(await mp.get("/quote", params={"job": "plumbing.tap", "area": "IN-09-162-820"}, headers=admin()))
    assert quote["job"]["amount_minor"] == 40000
    overlap = await mp.post("/rates", json={"item_code": "plumbing.tap", "area_code": "IN-09",
                                            "valid_from": "2026-12-07", "amount_minor": 1}, headers=admin())
    assert overlap.status_code == 409  # the same start date twice: two prices for one day
    # A district's own rate overrides the state's.
    await ok(await mp.post("/rates", json={"item_code": "plumbing.tap", "area_code": "IN-09-162",
                                           "valid_from": "2026-06-01", "amount_minor": 30000}, headers=admin()), 201)
    later = await book(mp, headers=citizen_app("c2"))
    assert later["price_minor"] == 30000


async def test_a_rate_card_changed_by_another_process_prices_the_next_booking(mp, database_url):
    """This process keeps quotes between bookings; a change it did not make itself (another replica, an
    operator's correction in SQL) still prices the very next booking, rates and cancellation terms alike."""
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    await worker(mp, await vendor(mp, "vendor-b"), km_east=2.0)
    first = await book(mp)
    assert (first["price_minor"], first["terms"]["assigned_fee_minor"]) == (25000, 5000)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE marketplace.rate SET amount_minor = 27500 WHERE item_code = 'plumbing.tap'")
        await conn.execute("UPDATE marketplace.cancellation_terms SET assigned_fee_minor = 6000")
    finally:
        await conn.close()
    second = await book(mp, headers=citizen_app("c2"))
    assert (second["price_minor"], second["terms"]["assigned_fee_minor"]) == (27500, 6000)
    assert (await ok(await mp.get(f"/bookings/{first['id']}", headers=admin())))["price_minor"] == 25000


async def test_booking_needs_a_rate_and_refuses_free_text_prices(mp):
    await rate_card(mp)
    r = await mp.post("/bookings", json=booking_body(area_code="BD-40-87"), headers=citizen_app())
    assert r.status_code in (403, 422)
    r = await mp.post("/bookings", json=booking_body(price_minor=1), headers=citizen_app())
    assert r.status_code == 201 and r.json()["price_minor"] == 25000  # unknown fields are ignored, never priced
    r = await mp.post("/bookings", json=booking_body(job_code="plumbing.visit"), headers=citizen_app())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "job_code"


async def test_call_centre_bookings_are_recorded_as_assisted(mp):
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    b = await book(mp, agent("agent-7"), channel="call_centre")
    assert b["channel"] == "call_centre" and b["assisted_by"] == "agent-7"
    r = await mp.post("/bookings", json=booking_body(channel="call_centre"), headers=citizen_app())
    assert r.status_code == 403


async def test_cross_vendor_access_is_refused(mp):
    await rate_card(mp)
    a = await vendor(mp, "vendor-a")
    b = await vendor(mp, "vendor-b")
    wa = await worker(mp, a)
    other = vendor_user("vendor-b-staff")
    assert (await mp.get(f"/workers/{wa}", headers=other)).status_code == 404
    assert (await mp.patch(f"/workers/{wa}", json={"name": "x"}, headers=other)).status_code == 404
    assert (await mp.put(f"/workers/{wa}/availability", json={"available": False}, headers=other)).status_code == 404
    body = {"vendor_id": a, "name": "Intruder", "phone": "+919876543210", "home_area_code": "IN-09-162-820",
            "service_area_code": "IN-09-162-820", "home_lat": 26.8, "home_lon": 80.9, "skills": ["plumbing"]}
    assert (await mp.post("/workers", json=body, headers=other)).status_code == 403
    listed = await ok(await mp.get("/workers", headers=other))
    assert listed["total"] == 0
    assert (await ok(await mp.get("/vendors", headers=other)))["items"][0]["id"] == b
    booking = await book(mp)
    assert (await mp.post(f"/bookings/{booking['id']}/accept", headers=other)).status_code == 404
    assert (await mp.get(f"/bookings/{booking['id']}", headers=other)).status_code == 404
    assert (await mp.get(f"/bookings/{booking['id']}", headers=vendor_user("vendor-a-staff"))).status_code == 200


async def test_a_reschedule_keeps_the_worker_only_inside_their_shifts_and_exceptions(mp):
    await rate_card(mp)
    v = await vendor(mp)
    weekdays = [{"weekday": d, "starts": "09:00", "ends": "17:00"} for d in range(6)]  # Monday to Saturday
    first = await worker(mp, v, km_east=1.0, name="Ramesh")
    await ok(await mp.patch(f"/workers/{first}", json={"shifts": weekdays}, headers=admin()))
    second = await worker(mp, v, km_east=4.0, name="Suresh")
    await ok(await mp.patch(f"/workers/{second}", json={"shifts": [{"weekday": 5, "starts": "08:00",
                                                                        "ends": "18:00"}]}, headers=admin()))
    staff = vendor_user("vendor-a-staff")
    b = await book(mp)  # Monday 10:00 in Lucknow: only the first worker is on shift
    assert b["offer_worker_id"] == first
    await ok(await mp.post(f"/bookings/{b['id']}/accept", headers=staff))

    # Tuesday 11:00 IST is inside the first worker's week: they keep the job.
    kept = await ok(await mp.post(f"/bookings/{b['id']}/reschedule", json={"slot_start": "2026-12-08T11:00:00+05:30"},
                                  headers=citizen_app()))
    assert kept["status"] == "assigned" and kept["worker_id"] == first
    # Saturday would be too, but they took it off (an exception): the job goes to the Saturday worker.
    r = await mp.post(f"/workers/{first}/shift-exceptions", json={"on_date": "2026-12-12", "available": False,
                                                                  "reason": "leave"}, headers=admin())
    assert r.status_code == 204, r.text
    moved = await ok(await mp.post(f"/bookings/{b['id']}/reschedule",
                                   json={"slot_start": "2026-12-12T10:00:00+05:30"}, headers=citizen_app()))
    assert moved["status"] == "offered" and moved["offer_worker_id"] == second and moved["worker_id"] is None
    assert (await ok(await mp.get(f"/workers/{first}", headers=admin())))["active_jobs"] == 0
    steps = await ok(await mp.get(f"/bookings/{b['id']}/transitions", headers=citizen_app()))
    assert [s["action"] for s in steps][-3:] == ["reschedule", "reschedule_release", "offer"]
    # An offered worker is re-checked too: back to Tuesday, when the Saturday worker is off (and the first
    # worker, released once, is not asked again): nobody holds it, and it waits for the next round.
    again = await ok(await mp.post(f"/bookings/{b['id']}/reschedule",
                                   json={"slot_start": "2026-12-08T12:00:00+05:30"}, headers=citizen_app()))
    assert again["status"] == "requested" and again["offer_worker_id"] is None
