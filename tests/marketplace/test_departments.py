"""Department requisitions, monthly statements, and the adoption reports that find who never books."""

from __future__ import annotations

from datetime import timedelta

from tests.marketplace.conftest import (
    DISTRICT,
    admin,
    booking_body,
    citizen_app,
    officer,
    ok,
    rate_card,
    report_days,
    vendor,
    vendor_user,
    worker,
)


async def departments(mp) -> None:
    h = admin()
    for code, name in (("up-pwd", "Public Works"), ("up-health", "Health"), ("up-edu", "Basic Education")):
        await ok(await mp.post("/departments", json={"code": code, "name": name, "area_code": DISTRICT},
                               headers=h), 201)
    await ok(await mp.post("/departments/up-pwd/offices", json={"code": "pwd-div-1", "name": "PWD Division 1",
                                                                "area_code": DISTRICT}, headers=h), 201)
    await ok(await mp.post("/departments/up-health/offices", json={"code": "chc-bkt", "name": "CHC Bakshi ka Talab",
                                                                   "area_code": DISTRICT}, headers=h), 201)


async def complete(mp, booking, staff) -> None:
    for step in ("accept", "depart", "arrive"):
        await ok(await mp.post(f"/bookings/{booking['id']}/{step}", headers=staff))
    await ok(await mp.post(f"/bookings/{booking['id']}/start", json={"otp": booking["codes"]["start"]}, headers=staff))
    await ok(await mp.post(f"/bookings/{booking['id']}/complete", json={"otp": booking["codes"]["completion"]},
                           headers=staff))


async def test_requisitions_carry_office_and_purchase_reference_and_make_a_statement(mp, clock):
    await rate_card(mp)
    await departments(mp)
    v = await vendor(mp)
    for i in range(3):
        await worker(mp, v, km_east=1 + i)
    staff, me = vendor_user("vendor-a-staff"), officer()
    r = await mp.post("/bookings", json=booking_body(channel="department", office_code="pwd-div-1"), headers=me)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "purchase_ref"
    r = await mp.post("/bookings", json=booking_body(channel="department", office_code="pwd-div-1",
                                                     purchase_ref="PO/2026/117"), headers=citizen_app())
    assert r.status_code == 403  # a citizen app cannot book against a department
    first = await ok(await mp.post("/bookings", json=booking_body(channel="department", office_code="pwd-div-1",
                                                                  purchase_ref="PO/2026/117"), headers=me), 201)
    assert first["department_code"] == "up-pwd" and first["purchase_ref"] == "PO/2026/117"
    await complete(mp, first, staff)
    clock.advance(timedelta(minutes=30))
    second = await ok(await mp.post("/bookings", json=booking_body(channel="department", office_code="pwd-div-1",
                                                                   purchase_ref="PO/2026/118"), headers=me), 201)
    await complete(mp, second, staff)
    other = await ok(await mp.post("/bookings", json=booking_body(channel="department", office_code="chc-bkt",
                                                                  purchase_ref="CHC-9"), headers=me), 201)
    await complete(mp, other, staff)
    statement = await ok(await mp.get("/reports/departments/up-pwd/statements/2026-12", headers=me))
    assert [line["purchase_ref"] for line in statement["lines"]] == ["PO/2026/117", "PO/2026/118"]
    assert statement["total_minor"] == 50000 and statement["offices"] == [
        {"office_code": "pwd-div-1", "lines": 2, "amount_minor": 50000}]
    empty = await ok(await mp.get("/reports/departments/up-pwd/statements/2026-11", headers=me))
    assert empty["lines"] == [] and empty["total_minor"] == 0
    elsewhere = officer("officer-2", area="IN-09-170")
    assert (await mp.get("/reports/departments/up-pwd/statements/2026-12", headers=elsewhere)).status_code == 404


async def test_adoption_by_department_and_departments_that_never_book(mp, clock):
    await rate_card(mp)
    await departments(mp)
    await worker(mp, await vendor(mp))
    me = officer()
    await ok(await mp.post("/bookings", json=booking_body(channel="department", office_code="pwd-div-1",
                                                          purchase_ref="PO-1"), headers=me), 201)
    await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
    by_dept = await ok(await mp.get("/reports/adoption", params={"group": "department", **report_days()}, headers=me))
    assert {r["key"]: r["bookings"] for r in by_dept["rows"]} == {"-": 1, "up-pwd": 1}
    by_channel = await ok(await mp.get("/reports/adoption", params={"group": "channel", **report_days()}, headers=me))
    assert {r["key"] for r in by_channel["rows"]} == {"app", "department"}
    idle = await ok(await mp.get("/reports/idle-departments", params=report_days(), headers=me))
    assert [d["code"] for d in idle["items"]] == ["up-edu", "up-health"]
    assert (await mp.get("/reports/adoption", headers=citizen_app())).status_code == 403
    bad = await mp.get("/reports/adoption", params={"since": "2026-12-01", "until": "2026-11-01"}, headers=me)
    assert bad.status_code == 422


async def test_earnings_and_idle_workers(mp, clock):
    await rate_card(mp)
    v = await vendor(mp)
    busy = await worker(mp, v, km_east=1, name="Busy")
    idle = await worker(mp, v, km_east=30, name="Idle")
    staff = vendor_user("vendor-a-staff")
    b = await ok(await mp.post("/bookings", json=booking_body(), headers=citizen_app()), 201)
    await complete(mp, b, staff)
    earned = await ok(await mp.get("/reports/earnings", headers=staff))
    assert [(e["worker_id"], e["earned_minor"]) for e in earned["items"]] == [(busy, 25000)]
    clock.advance(timedelta(days=1))
    idle_list = await ok(await mp.get("/reports/idle-workers", params={"days": 7}, headers=staff))
    assert [w["worker_id"] for w in idle_list["items"]] == [idle]
    other = vendor_user("vendor-b-staff")
    await vendor(mp, "vendor-b")
    assert (await ok(await mp.get("/reports/earnings", headers=other)))["items"] == []
