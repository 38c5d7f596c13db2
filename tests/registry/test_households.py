"""Households, members, the one-head rule, identifiers and versioned history."""

from __future__ import annotations

import uuid

from tests.registry.conftest import (
    OTHER_WARD,
    PURPOSE,
    WARD,
    aadhaar,
    brn,
    bus_events,
    create_household,
    household,
    member,
    volunteer,
)


async def test_household_with_members_is_created_collected_and_masked(client):
    body = household(members=[
        member("রহিম উদ্দিন", "male", "head", birth_date="1970-03-01", birth_date_source="nid",
               phones=["01712345678"], identifiers=[{"type": "bd_nid", "value": "1970 2698 7654 32101"}]),
        member("ফাতেমা বেগম", "female", "spouse", birth_date="1975-01-01", birth_date_estimated=True),
        member("সুমি", "female", "child", birth_date="2019-05-05", birth_date_source="brn",
               identifiers=[{"type": "bd_brn", "value": brn(2019, 4713220012345)}]),
    ])
    out = await create_household(client, body)
    assert out["survey_status"] == "collected"
    assert next(m["role"] for m in out["members"]) == "head"
    head = out["members"][0]
    assert head["identifiers"][0]["masked"] == "XXXX XXXX 2101"
    assert head["phones_masked"] == ["XXXX XXXX 5678"]
    assert "19702698765432101" not in str(out)
    # The full record needs a purpose and is audited.
    r = await client.get(f"/persons/{head['id']}", headers=volunteer())
    assert r.status_code == 422 and "X-Purpose" in r.json()["detail"]
    r = await client.get(f"/persons/{head['id']}", headers=volunteer() | PURPOSE)
    assert r.status_code == 200, r.text
    assert r.json()["phones"] == ["+8801712345678"]
    assert r.json()["identifiers"][0]["form"] == "nid17"


async def test_second_head_is_rejected_in_body_and_by_the_database(client):
    r = await client.post("/households", json=household(members=[member("A", "male", "head"),
                                                                 member("B", "female", "head")]), headers=volunteer())
    assert r.status_code == 422
    assert "exactly one head" in r.json()["detail"]
    out = await create_household(client, household(members=[member("Karim", "male", "head")]))
    r = await client.post(f"/households/{out['id']}/members",
                          json={"role": "head", "person": {"full_name": "Jamal", "sex": "male"}}, headers=volunteer())
    assert r.status_code == 409


async def test_dangling_membership_is_rejected(client):
    out = await create_household(client, household(members=[member("Karim", "male", "head")]))
    r = await client.post(f"/households/{out['id']}/members", json={"role": "child", "person_id": str(uuid.uuid4())},
                          headers=volunteer())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "person_id"
    r = await client.post(f"/households/{uuid.uuid4()}/members",
                          json={"role": "child", "person": {"full_name": "X", "sex": "male"}}, headers=volunteer())
    assert r.status_code == 404


async def test_malformed_identifiers_are_rejected_with_reasons(client):
    cases = [
        ({"type": "aadhaar", "value": "234123412347"}, "Verhoeff"),
        ({"type": "aadhaar", "value": "123412341234"}, "must not start"),
        ({"type": "bd_nid", "value": "12345"}, "10, 13 or 17"),
        ({"type": "bd_brn", "value": "1979091216610014"}, "16-digit"),
        ({"type": "bd_brn", "value": "1979O912166100145"}, "digits"),
        ({"type": "voter_id", "value": "AB1234567"}, "EPIC"),
        ({"type": "phone", "value": "12345"}, "Phone"),
    ]
    for ident, reason in cases:
        body = household(members=[member("Karim", "male", "head", identifiers=[ident])])
        r = await client.post("/households", json=body, headers=volunteer())
        assert r.status_code == 422, (ident, r.text)
        assert reason in r.json()["detail"], (ident, r.json())
        assert r.json()["errors"][0]["field"] == "members.0.identifiers.0.value"


async def test_dob_contradicting_year_prefix_is_rejected(client):
    body = household(members=[member("Sumi", "female", "head", birth_date="2005-02-01",
                                     identifiers=[{"type": "bd_brn", "value": brn(2008, 1)}])])
    r = await client.post("/households", json=body, headers=volunteer())
    assert r.status_code == 422
    assert "contradicts" in r.json()["detail"] and "2008" in r.json()["detail"]
    # The same rule on a later edit of the date of birth.
    out = await create_household(client, household(members=[
        member("Sumi", "female", "head", birth_date="2008-02-01", identifiers=[{"type": "bd_brn", "value": brn(2008, 1)}])
    ]))
    person = out["members"][0]
    r = await client.patch(f"/persons/{person['id']}", json={"base_version": person["version"], "birth_date": "2003-01-01"},
                           headers=volunteer())
    assert r.status_code == 422 and "contradicts" in r.json()["detail"]


async def test_one_live_identifier_per_type_and_13_17_nid_are_one(client):
    out = await create_household(client, household(members=[
        member("Karim", "male", "head", birth_date="1970-01-01",
               identifiers=[{"type": "bd_nid", "value": "1970" + "2698765432101"}])
    ]))
    person = out["members"][0]
    # The 13-digit form of the same NID is the same identifier: a no-op, not a second one.
    r = await client.post(f"/persons/{person['id']}/identifiers", json={"type": "bd_nid", "value": "2698765432101"},
                          headers=volunteer())
    assert r.status_code == 201
    assert len([i for i in r.json()["identifiers"] if i["type"] == "bd_nid"]) == 1
    r = await client.post(f"/persons/{person['id']}/identifiers", json={"type": "bd_nid", "value": "2698765432999"},
                          headers=volunteer())
    assert r.status_code == 409
    # Lookup by either form finds the person.
    for value in ("2698765432101", "19702698765432101"):
        r = await client.post("/persons/lookup", json={"type": "bd_nid", "value": value}, headers=volunteer() | PURPOSE)
        assert r.status_code == 200 and r.json()["items"][0]["id"] == person["id"]


async def test_every_change_is_versioned_with_previous_value(client):
    out = await create_household(client, household(members=[member("Karim", "male", "head", occupation="farmer")]))
    person = out["members"][0]
    r = await client.patch(f"/persons/{person['id']}", json={"base_version": 1, "occupation": "fisher"},
                           headers=volunteer(subject="volunteer-2"))
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = await client.patch(f"/persons/{person['id']}", json={"base_version": 1, "occupation": "trader"},
                               headers=volunteer())
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    r = await client.get(f"/persons/{person['id']}/history", headers=volunteer() | PURPOSE)
    update = next(e for e in r.json()["items"] if e["action"] == "update")
    assert update["changes"]["occupation"] == {"from": "farmer", "to": "fisher"}
    assert update["changed_by"] == "volunteer-2" and update["version"] == 2


async def test_cross_area_reads_are_not_found_and_writes_forbidden(client):
    out = await create_household(client, household(members=[
        member("Karim", "male", "head", identifiers=[{"type": "aadhaar", "value": aadhaar(7)}])]))
    person_id = out["members"][0]["id"]
    other = volunteer(OTHER_WARD, subject="volunteer-other")
    for path in (f"/persons/{person_id}", f"/households/{out['id']}", f"/persons/{person_id}/history"):
        r = await client.get(path, headers=other | PURPOSE)
        assert r.status_code == 404, path
        assert "Karim" not in r.text
    r = await client.post("/persons/lookup", json={"type": "aadhaar", "value": aadhaar(7)}, headers=other | PURPOSE)
    assert r.status_code == 404
    r = await client.get("/persons/search", params={"area": WARD, "name": "Karim"}, headers=other | PURPOSE)
    assert r.status_code == 404
    r = await client.get("/households", headers=other)
    assert r.json()["total"] == 0
    r = await client.post("/households", json=household(area=WARD), headers=other)
    assert r.status_code == 403
    r = await client.patch(f"/persons/{person_id}", json={"base_version": 1, "occupation": "x"}, headers=other)
    assert r.status_code == 404


async def test_reads_are_audited_with_purpose(client, database_url):
    import asyncpg

    out = await create_household(client, household(members=[member("Karim", "male", "head")]))
    person_id = out["members"][0]["id"]
    await client.get(f"/persons/{person_id}", headers=volunteer() | {"X-Purpose": "pension check"})
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT actor, action, purpose FROM registry.audit_event WHERE record_id = $1", person_id)
    finally:
        await conn.close()
    assert ("volunteer-1", "read", "pension check") in [tuple(r) for r in rows]


async def test_move_household_moves_members_and_emits_event(client, nats_url, database_url):
    out = await create_household(client, household(members=[member("Karim", "male", "head")]),
                                 headers=volunteer("BD-40-87-90-54"))
    union = volunteer("BD-40-87-90-54")
    r = await client.patch(f"/households/{out['id']}", json={"base_version": out["version"], "area_code": OTHER_WARD},
                           headers=union)
    assert r.status_code == 200, r.text
    assert r.json()["area_code"] == OTHER_WARD and r.json()["members"][0]["area_code"] == OTHER_WARD
    expected = {"registry.household.moved.v1", "registry.person.registered.v1", "registry.household.created.v1"}
    envelopes = await bus_events(nats_url, database_url, expected)
    assert expected <= {e.type for e in envelopes}
    moved = next(e.event() for e in envelopes if e.type == "registry.household.moved.v1")
    assert moved.to_area_code == OTHER_WARD and moved.member_ids == [uuid.UUID(out["members"][0]["id"])]
