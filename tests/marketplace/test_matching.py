"""Nearest-available search: order by distance, rating and load; the radius; trades kept apart."""

from __future__ import annotations

from tests.marketplace.conftest import BLOCK, HERE, admin, ok, rate_card, vendor, worker


async def search(mp, **params):
    query = {"category": "plumbing", "lat": HERE[0], "lon": HERE[1], "area": BLOCK, **params}
    return (await ok(await mp.get("/search", params=query, headers=admin())))["items"]


async def test_nearest_first_within_the_radius_and_only_the_trade(mp):
    await rate_card(mp)
    v = await vendor(mp)
    near = await worker(mp, v, km_east=1, name="near")
    mid = await worker(mp, v, km_east=4, name="mid")
    far = await worker(mp, v, km_east=9, name="far")
    await worker(mp, v, km_east=0.5, name="electrician", skills=["electrical"])
    await worker(mp, v, km_east=0.2, name="off duty", available=False)
    items = await search(mp, radius_km=10)
    assert [i["worker_id"] for i in items] == [near, mid, far]
    assert 0.9 < items[0]["distance_km"] < 1.1 and 8.5 < items[2]["distance_km"] < 9.5
    assert [i["worker_id"] for i in await search(mp, radius_km=5)] == [near, mid]
    assert [i["worker_id"] for i in await search(mp, radius_km=0.5)] == []


async def test_a_workers_own_service_radius_also_limits(mp):
    await rate_card(mp)
    v = await vendor(mp)
    await worker(mp, v, km_east=6, radius_km=5)
    assert await search(mp, radius_km=20) == []


async def test_load_and_rating_move_a_worker_down(mp):
    from services.marketplace.rules.matching import score

    assert score(2.0, 5.0, 0) < score(1.0, 4.0, 0)  # one more star outweighs a km
    assert score(2.5, 4.0, 0) < score(1.0, 4.0, 1)  # a job in hand weighs two km
    await rate_card(mp)
    v = await vendor(mp)
    a = await worker(mp, v, km_east=1)
    b = await worker(mp, v, km_east=2)
    await ok(await mp.patch(f"/workers/{a}", json={"max_jobs": 3}, headers=admin()))
    from sqlalchemy import text

    async with mp.app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE marketplace.worker SET active_jobs = 2 WHERE id = :id"), {"id": a})
    assert [i["worker_id"] for i in await search(mp)] == [b, a]


async def test_worker_moves_with_a_fresh_position(mp):
    await rate_card(mp)
    v = await vendor(mp)
    w = await worker(mp, v, km_east=12)
    assert await search(mp, radius_km=5) == []
    await ok(await mp.put(f"/workers/{w}/availability", json={"available": True, "lat": HERE[0],
                                                              "lon": HERE[1] + 0.01}, headers=admin()))
    assert [i["worker_id"] for i in await search(mp, radius_km=5)] == [w]


async def test_unknown_category_is_a_422_naming_the_field(mp):
    r = await mp.get("/search", params={"category": "nope", "lat": 26.8, "lon": 80.9, "area": BLOCK},
                     headers=admin())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "category"


async def test_only_workers_on_shift_now_and_not_on_a_day_off_are_found(mp, clock):
    """START is Monday 10:00 in Lucknow; each worker's week and that day's exception decide."""
    from datetime import timedelta

    await rate_card(mp)
    v = await vendor(mp)
    weekdays = {"shifts": [{"weekday": d, "starts": "09:00", "ends": "17:00"} for d in range(5)]}
    any_time = await worker(mp, v, km_east=1, name="no template")
    office_hours = await worker(mp, v, km_east=2, name="weekdays 9-17")
    await ok(await mp.patch(f"/workers/{office_hours}", json=weekdays, headers=admin()))
    day_off = await worker(mp, v, km_east=3, name="weekdays, off today")
    await ok(await mp.patch(f"/workers/{day_off}", json=weekdays, headers=admin()))
    late = await worker(mp, v, km_east=4, name="weekdays, today from 14:00")
    await ok(await mp.patch(f"/workers/{late}", json=weekdays, headers=admin()))
    for wid, body in ((day_off, {"on_date": "2026-12-07", "available": False}),
                      (late, {"on_date": "2026-12-07", "available": True, "starts": "14:00", "ends": "20:00"}),
                      (day_off, {"on_date": "2026-12-08", "available": False})):  # another day: no effect today
        r = await mp.post(f"/workers/{wid}/shift-exceptions", json=body, headers=admin())
        assert r.status_code == 204, r.text
    assert [i["worker_id"] for i in await search(mp, radius_km=10)] == [any_time, office_hours]
    clock.advance(timedelta(hours=8))  # 18:00: the template is over, the late exception is on
    assert [i["worker_id"] for i in await search(mp, radius_km=10)] == [any_time, late]


async def test_bookings_are_offered_in_the_order_the_search_ranks(mp):
    """A booking ranks its candidates inside its own statement (repository/search.py), the search in
    rules/: the same distance, both radii, rating, load, shifts and exceptions must give the same order."""
    from sqlalchemy import text

    from tests.marketplace.conftest import booking_body, citizen_app

    await rate_card(mp)
    v = await vendor(mp)
    w = {km: await worker(mp, v, km_east=km, name=f"{km} km") for km in (0.5, 1, 1.5, 2, 3, 4, 6, 9, 12)}
    await worker(mp, v, km_east=3.5, radius_km=3)  # beyond its own service radius
    await worker(mp, v, km_east=20)  # beyond the booking's 15 km
    for km in (1.5, 3):
        await ok(await mp.patch(f"/workers/{w[km]}", json={"max_jobs": 3}, headers=admin()))
    async with mp.app.state.runtime.sessionmaker() as session, session.begin():
        for km, rating_sum, rating_count, jobs in ((0.5, 6, 2, 0), (2, 25, 5, 0), (1.5, 0, 0, 2), (3, 14, 3, 1),
                                                   (6, 5, 1, 0)):
            await session.execute(text("UPDATE marketplace.worker SET rating_sum = :s, rating_count = :c,"
                                       " active_jobs = :j WHERE id = :id"),
                                  {"s": rating_sum, "c": rating_count, "j": jobs, "id": w[km]})
    # START is Monday 10:00 in Lucknow: off for the day, outside the week's shifts, an exception's own hours.
    weekdays = {"shifts": [{"weekday": d, "starts": "09:00", "ends": "17:00"} for d in range(5)]}
    for km, shifts, exception in (
            (1, weekdays, {"on_date": "2026-12-07", "available": False}),
            (4, {"shifts": [{"weekday": 0, "starts": "14:00", "ends": "20:00"}]}, None),
            (9, weekdays, {"on_date": "2026-12-07", "available": True, "starts": "09:30", "ends": "10:30"}),
            (12, {"shifts": [{"weekday": 1, "starts": "09:00", "ends": "17:00"}]},
             {"on_date": "2026-12-07", "available": True})):
        await ok(await mp.patch(f"/workers/{w[km]}", json=shifts, headers=admin()))
        if exception:
            r = await mp.post(f"/workers/{w[km]}/shift-exceptions", json=exception, headers=admin())
            assert r.status_code == 204, r.text
    ranked = await search(mp, radius_km=15, limit=24)
    order = [i["worker_id"] for i in ranked]
    assert set(order) == {w[km] for km in (0.5, 1.5, 2, 3, 6, 9, 12)}
    assert order != sorted(order, key=lambda wid: next(i["distance_km"] for i in ranked if i["worker_id"] == wid))
    offered = []
    for _ in order:
        b = await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
        offered.append(b["offer_worker_id"])
    assert offered == order
    b = await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
    assert b["status"] == "requested" and b["offer_worker_id"] is None
