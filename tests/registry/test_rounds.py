"""The yearly revision round (January round): carry-forward, scoped item work, coverage, closing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import identity_headers
from tests.registry.conftest import (
    IN_VILLAGE,
    OTHER_WARD,
    PURPOSE,
    UNION,
    WARD,
    bus_events,
    create_household,
    household,
    member,
    officer,
    volunteer,
    ward_member,
)

ELSEWHERE = "BD-40-87-90-55"  # another union of the upazila: outside UNION


async def open_round(client: httpx.AsyncClient, area: str, year: int = 2027, **extra: Any) -> dict[str, Any]:
    r = await client.post("/rounds", json={"area_code": area, "year": year, **extra}, headers=officer())
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def items_of(client: httpx.AsyncClient, round_id: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await client.get(f"/rounds/{round_id}/items", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def item_for(client: httpx.AsyncClient, round_id: str, household_id: str) -> dict[str, Any]:
    page = await items_of(client, round_id, identity_headers(), limit=500)
    return next(i for i in page["items"] if i["household_id"] == household_id)


async def act(client: httpx.AsyncClient, round_id: str, item: dict[str, Any], action: str,
              headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    payload = {"base_version": item["version"], **body}
    return await client.post(f"/rounds/{round_id}/items/{item['id']}/{action}", json=payload,
                             headers=headers or volunteer(item["area_code"]))


def is_problem(r: httpx.Response, status: int) -> bool:
    return r.status_code == status and r.headers["content-type"].startswith("application/problem+json")


async def test_open_round_carries_forward_only_the_areas_households(client):
    a = await create_household(client, household(members=[member("Karim", "male", "head")]))
    b = await create_household(client, household())
    await create_household(client, household(OTHER_WARD), headers=volunteer(OTHER_WARD))
    await create_household(client, household(IN_VILLAGE), headers=identity_headers())
    out = await open_round(client, WARD)
    assert out["households_total"] == 2 and out["status"] == "open" and out["opened_by"] == "uno-1"
    page = await items_of(client, out["id"], volunteer())
    assert page["total"] == 2 and {i["household_id"] for i in page["items"]} == {a["id"], b["id"]}
    assert {i["status"] for i in page["items"]} == {"pending"}
    assert next(i for i in page["items"] if i["household_id"] == a["id"])["member_count"] == 1
    # One open round per area subtree and year.
    for area in (WARD, UNION):
        r = await client.post("/rounds", json={"area_code": area, "year": 2027}, headers=officer())
        assert is_problem(r, 409) and r.json()["round_id"] == out["id"]
    other = await open_round(client, OTHER_WARD)  # a disjoint ward is fine
    assert other["households_total"] == 1
    assert (await open_round(client, UNION, 2028))["households_total"] == 3  # another year is fine


async def test_opening_needs_an_officer_in_scope_and_valid_input(client):
    assert is_problem(await client.post("/rounds", json={"area_code": WARD, "year": 2027}, headers=volunteer()), 403)
    elsewhere = identity_headers(roles=["department_officer"], scopes=["registry:read"], area_scope=["IN-23"])
    assert is_problem(await client.post("/rounds", json={"area_code": WARD, "year": 2027}, headers=elsewhere), 403)
    for body in ({"area_code": WARD, "year": 1999}, {"area_code": "XX-1", "year": 2027}, {"year": 2027},
                 {"area_code": WARD, "year": 2027, "due_on": "2001-01-01"}, {"area_code": WARD, "year": "soon"},
                 {"area_code": WARD, "year": 2027, "extra": 1}):
        assert is_problem(await client.post("/rounds", json=body, headers=officer()), 422), body
    r = await client.post("/rounds", json={"area_code": "BD-40-87-90-54-09", "year": 2027}, headers=officer())
    assert is_problem(r, 422) and r.json()["errors"][0]["reason"] == "unknown area"
    assert is_problem(await client.get("/rounds/not-a-uuid", headers=officer()), 422)
    assert is_problem(await client.get("/rounds/00000000-0000-0000-0000-000000000000", headers=officer()), 404)


async def test_volunteers_work_only_their_wards_items(client):
    a = await create_household(client, household(members=[member("Karim", "male", "head")]))
    await create_household(client, household())
    b = await create_household(client, household(OTHER_WARD), headers=volunteer(OTHER_WARD))
    rnd = await open_round(client, UNION)
    assert (await items_of(client, rnd["id"], volunteer()))["total"] == 2
    assert (await items_of(client, rnd["id"], volunteer(OTHER_WARD)))["total"] == 1
    item_a, item_b = await item_for(client, rnd["id"], a["id"]), await item_for(client, rnd["id"], b["id"])
    # Ward B's volunteer cannot see or touch ward A's items: 404, never a leak.
    assert is_problem(await client.get(f"/rounds/{rnd['id']}/items/{item_a['id']}", headers=volunteer(OTHER_WARD)),
                      404)
    assert is_problem(await act(client, rnd["id"], item_a, "confirm", volunteer(OTHER_WARD)), 404)
    assert is_problem(await act(client, rnd["id"], item_b, "confirm", volunteer(WARD)), 404)
    # A volunteer elsewhere does not even see the round.
    assert is_problem(await client.get(f"/rounds/{rnd['id']}", headers=volunteer("IN-23")), 404)
    # The ward member reads but does not write.
    assert is_problem(await act(client, rnd["id"], item_a, "confirm", ward_member()), 403)
    assert is_problem(await act(client, rnd["id"], {**item_a, "version": 7}, "confirm"), 409)  # stale version
    r = await act(client, rnd["id"], item_a, "confirm", note="All as before")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "confirmed" and done["decided_by"] == "volunteer-1" and done["reason"] == "All as before"
    r = await act(client, rnd["id"], done, "confirm")
    assert is_problem(r, 409) and "allowed: close, edit" in r.json()["detail"]
    pending = await items_of(client, rnd["id"], volunteer(), status="pending")
    assert pending["total"] == 1 and pending["items"][0]["household_id"] != a["id"]
    assert is_problem(await client.get(f"/rounds/{rnd['id']}/items", params={"status": "gone"},
                                       headers=volunteer()), 422)


async def test_edits_go_through_the_services_and_link_to_the_item(client, nats_url, database_url):
    hh = await create_household(client, household(members=[member("Karim", "male", "head", birth_date="1970-01-01"),
                                                           member("Amena", "female", "spouse")]))
    other = await create_household(client, household(members=[member("Jamal", "male", "head")]))
    head, spouse = hh["members"]
    rnd = await open_round(client, UNION)
    item = await item_for(client, rnd["id"], hh["id"])
    edit: dict[str, Any] = {
        "note": "New address after the flood",
        "household": {"base_version": hh["version"], "address": "House 3, Nagarghata"},
        "persons": [{"person_id": head["id"], "base_version": head["version"], "occupation": "farmer"}],
        "add_members": [{"role": "child", "person": {"full_name": "Sumi", "sex": "female",
                                                     "birth_date": "2026-02-01"}}],
        "deaths": [{"person_id": spouse["id"], "deceased_on": "2026-06-01"}],
    }
    r = await act(client, rnd["id"], item, "edit", **edit)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "edited" and len(done["edits"]) == 1
    log = done["edits"][0]
    assert log["persons"][0]["id"] == head["id"] and log["persons"][0]["version"] == 2
    assert log["deaths"][0]["id"] == spouse["id"] and log["members_added"] == ["child"]
    r = await client.get(f"/households/{hh['id']}", headers=volunteer() | PURPOSE)
    now = r.json()
    assert now["address"] == "House 3, Nagarghata" and now["version"] == log["household_version"]
    assert {m["full_name"] for m in now["members"]} == {"Karim", "Sumi"}
    history = (await client.get(f"/households/{hh['id']}/history", headers=volunteer() | PURPOSE)).json()["items"]
    linked = next(h for h in history if h["action"] == "round.edit")
    assert linked["changes"]["round_item"]["to"] == item["id"] and rnd["id"] in linked["reason"]
    assert any(h["action"] == "update" for h in history)
    envelopes = await bus_events(nats_url, database_url, {"registry.person.updated.v1", "registry.person.deceased.v1"})
    assert {"registry.person.updated.v1", "registry.person.deceased.v1", "registry.household.updated.v1"} <= {
        e.type for e in envelopes}
    # Bad edits are refused with the field that is wrong, and change nothing.
    second = await item_for(client, rnd["id"], other["id"])
    r = await act(client, rnd["id"], second, "edit", persons=[{"person_id": head["id"], "base_version": 2,
                                                                "occupation": "x"}])
    assert is_problem(r, 422) and r.json()["errors"][0]["field"] == "persons.0.person_id"
    r = await act(client, rnd["id"], second, "edit", household={"base_version": 1, "area_code": ELSEWHERE})
    assert is_problem(r, 422) and "closed as moved" in r.json()["detail"]
    assert is_problem(await act(client, rnd["id"], second, "edit"), 422)  # nothing to edit
    r = await act(client, rnd["id"], second, "edit", household={"base_version": 1, "status": "closed"})
    assert is_problem(r, 422)
    assert (await item_for(client, rnd["id"], other["id"]))["status"] == "pending"


async def test_close_item_validation_and_reopen(client):
    await client.post("/areas", json={"code": ELSEWHERE, "name": "Other union"}, headers=identity_headers())
    hh = await create_household(client, household(members=[member("Karim", "male", "head")]))
    rnd = await open_round(client, UNION)
    item = await item_for(client, rnd["id"], hh["id"])
    bad: list[dict[str, Any]] = [
        {"outcome": "moved"},  # no reason
        {"outcome": "vanished", "reason": "not found"},
        {"outcome": "dissolved", "reason": "split up", "destination_area_code": ELSEWHERE},
        {"outcome": "moved", "reason": "left", "deceased_on": "2026-01-01"},
        {"outcome": "deceased", "reason": "all died", "deceased_on": "2999-01-01"},
        {"outcome": "moved", "reason": "left", "destination_area_code": "ZZ-1"},
    ]
    for body in bad:
        assert is_problem(await act(client, rnd["id"], item, "close", **body), 422), body
    r = await act(client, rnd["id"], item, "close", outcome="moved", reason="left", destination_area_code=OTHER_WARD)
    assert is_problem(r, 422) and r.json()["errors"][0]["reason"] == "inside the round's area"
    r = await act(client, rnd["id"], item, "close", outcome="moved", reason="left", destination_area_code="BD-40-88")
    assert is_problem(r, 422) and r.json()["errors"][0]["reason"] == "unknown area"
    r = await act(client, rnd["id"], item, "close", outcome="moved", reason="Left for Khulna",
                  destination_area_code=ELSEWHERE)
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["close_outcome"] == "moved" and closed["destination_area_code"] == ELSEWHERE
    assert closed["applied_at"] is None  # takes effect when the round closes
    assert is_problem(await act(client, rnd["id"], closed, "confirm"), 409)
    assert is_problem(await act(client, rnd["id"], closed, "reopen", reason="wrong house"), 403)  # a volunteer
    r = await act(client, rnd["id"], closed, "reopen", ward_member(), reason="Wrong house was visited")
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["close_outcome"] is None


async def test_coverage_force_close_applies_closures_and_publishes(client, nats_url, database_url):
    await client.post("/areas", json={"code": ELSEWHERE, "name": "Other union"}, headers=identity_headers())
    stays = await create_household(client, household(members=[member("Karim", "male", "head")]))
    moved = await create_household(client, household(members=[member("Rahim", "male", "head")]))
    dead = await create_household(client, household(members=[member("Old", "male", "head", birth_date="1930-01-01"),
                                                             member("Older", "female", "spouse")]))
    unreached = await create_household(client, household(OTHER_WARD, [member("Far", "male", "head")]),
                                       headers=volunteer(OTHER_WARD))
    rnd = await open_round(client, UNION, due_on=None)
    rid = rnd["id"]
    assert (await act(client, rid, await item_for(client, rid, stays["id"]), "confirm")).status_code == 200
    r = await act(client, rid, await item_for(client, rid, moved["id"]), "close", outcome="moved",
                  reason="Left for Khulna", destination_area_code=ELSEWHERE)
    assert r.status_code == 200
    r = await act(client, rid, await item_for(client, rid, dead["id"]), "close", outcome="deceased",
                  reason="Both died in the cyclone", deceased_on="2026-05-20")
    assert r.status_code == 200
    cov = (await client.get(f"/rounds/{rid}/coverage", headers=officer())).json()
    assert (cov["total"], cov["pending"], cov["confirmed"], cov["closed"]) == (4, 1, 1, 2)
    assert cov["coverage"] == 0.75 and not cov["complete"] and cov["outcomes"]["moved"] == 1
    by_child = {c["area_code"]: (c["total"], c["coverage"]) for c in cov["by_child_area"]}
    assert by_child == {WARD: (3, 1.0), OTHER_WARD: (1, 0.0)}
    mine = (await client.get(f"/rounds/{rid}/coverage", headers=volunteer())).json()  # the volunteer's own ward
    assert (mine["area_code"], mine["total"], mine["coverage"]) == (WARD, 3, 1.0)
    assert is_problem(await client.get(f"/rounds/{rid}/coverage", params={"area": UNION}, headers=volunteer()), 404)
    assert is_problem(await client.get(f"/rounds/{rid}/coverage", params={"area": "IN-23"}, headers=officer()), 422)
    # Closing: only when complete, or forced with a reason; only by the office.
    r = await client.post(f"/rounds/{rid}/close", json={}, headers=officer())
    assert is_problem(r, 409) and r.json()["pending"] == 1
    assert is_problem(await client.post(f"/rounds/{rid}/close", json={"force": True}, headers=officer()), 422)
    assert is_problem(await client.post(f"/rounds/{rid}/close", json={"force": True, "reason": "flooded road"},
                                        headers=volunteer()), 403)
    r = await client.post(f"/rounds/{rid}/close", json={"force": True, "reason": "Road to ward 7 flooded"},
                          headers=officer())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["forced"] and r.json()["closed_by"] == "uno-1"
    assert (await item_for(client, rid, unreached["id"]))["status"] == "unreached"
    assert (await item_for(client, rid, moved["id"]))["applied_at"] is not None
    admin = identity_headers() | PURPOSE
    after_move = (await client.get(f"/households/{moved['id']}", headers=admin)).json()
    assert after_move["area_code"] == ELSEWHERE and after_move["members"][0]["area_code"] == ELSEWHERE
    after_death = (await client.get(f"/households/{dead['id']}", headers=admin)).json()
    assert after_death["status"] == "closed" and after_death["members"] == []
    for person in dead["members"]:
        assert (await client.get(f"/persons/{person['id']}", headers=admin)).json()["status"] == "deceased"
    # The round is over: no more work, no second close.
    assert is_problem(await act(client, rid, await item_for(client, rid, stays["id"]), "edit",
                                household={"base_version": 1, "address": "x y z"}), 409)
    assert is_problem(await client.post(f"/rounds/{rid}/close", json={}, headers=officer()), 409)
    subjects = {"registry.round.closed.v1", "registry.household.moved.v1", "registry.person.deceased.v1"}
    envelopes = await bus_events(nats_url, database_url, subjects)
    assert subjects <= {e.type for e in envelopes}
    closed = next(e.event() for e in envelopes if e.type == "registry.round.closed.v1")
    assert str(closed.round_id) == rid and closed.forced and closed.reason == "Road to ward 7 flooded"
    assert (closed.households_total, closed.confirmed, closed.closed, closed.unreached) == (4, 1, 2, 1)
    assert (closed.moved, closed.deceased, closed.coverage) == (1, 1, 0.75)
    assert {c.area_code: c.reached for c in closed.by_child_area} == {WARD: 3, OTHER_WARD: 0}
    deaths = [e.event() for e in envelopes if e.type == "registry.person.deceased.v1"]
    assert {str(d.person_id) for d in deaths} == {m["id"] for m in dead["members"]}
    moves = [e.event() for e in envelopes if e.type == "registry.household.moved.v1"]
    assert [(str(m.household_id), m.to_area_code) for m in moves] == [(moved["id"], ELSEWHERE)]


async def test_complete_round_closes_without_force(client):
    hh = await create_household(client, household(members=[member("Karim", "male", "head")]))
    rnd = await open_round(client, WARD)
    r = await act(client, rnd["id"], await item_for(client, rnd["id"], hh["id"]), "confirm")
    assert r.status_code == 200
    r = await client.post(f"/rounds/{rnd['id']}/close", json={"base_version": 1}, headers=officer())
    assert r.status_code == 200, r.text
    assert not r.json()["forced"] and r.json()["close_reason"] is None
    listed = (await client.get("/rounds", params={"status": "closed", "year": 2027}, headers=volunteer())).json()
    assert [x["id"] for x in listed["items"]] == [rnd["id"]]
