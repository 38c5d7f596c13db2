"""The survey workflow over HTTP and offline sync (idempotent resend, conflicts per row)."""

from __future__ import annotations

from tests.registry.conftest import (
    OTHER_WARD,
    PURPOSE,
    WARD,
    brn,
    bus_events,
    create_household,
    household,
    member,
    new_ref,
    officer,
    volunteer,
    ward_member,
)


async def test_collect_verify_approve_with_four_eyes_and_event(client, nats_url, database_url):
    out = await create_household(client, household(members=[member("Karim", "male", "head")]))
    url = f"/households/{out['id']}/survey"
    assert (await client.post(url, json={"action": "verify"}, headers=volunteer())).status_code == 403  # not a reviewer
    r = await client.post(url, json={"action": "approve"}, headers=officer())
    assert r.status_code == 409 and "collected" in r.json()["detail"]  # cannot skip verification
    r = await client.post(url, json={"action": "verify", "base_version": out["version"]}, headers=ward_member())
    assert r.status_code == 200 and r.json()["survey_status"] == "verified"
    r = await client.post(url, json={"action": "approve"}, headers=officer(subject="ward-member-1"))
    assert r.status_code == 403  # the verifier cannot approve
    r = await client.post(url, json={"action": "approve"}, headers=officer())
    assert r.status_code == 200 and r.json()["survey_status"] == "approved" and r.json()["approved_by"] == "uno-1"
    envelopes = await bus_events(nats_url, database_url, {"registry.survey.approved.v1"})
    approved = next(e.event() for e in envelopes if e.type == "registry.survey.approved.v1")
    assert str(approved.household_id) == out["id"] and approved.verified_by == "ward-member-1"


async def test_return_needs_reason_and_edit_resubmits(client):
    out = await create_household(client, household(members=[member("Karim", "male", "head")]))
    url = f"/households/{out['id']}/survey"
    r = await client.post(url, json={"action": "return"}, headers=ward_member())
    assert r.status_code == 422
    r = await client.post(url, json={"action": "return", "reason": "Missing mother's name"}, headers=ward_member())
    assert r.json()["survey_status"] == "returned" and r.json()["return_reason"] == "Missing mother's name"
    person = out["members"][0]
    r = await client.patch(f"/persons/{person['id']}", json={"base_version": 1, "mother_name": "Amena"},
                           headers=volunteer())
    assert r.status_code == 200
    r = await client.get(f"/households/{out['id']}", headers=volunteer() | PURPOSE)
    assert r.json()["survey_status"] == "collected" and r.json()["return_reason"] is None


async def test_household_without_head_cannot_be_verified(client):
    out = await create_household(client, household())
    r = await client.post(f"/households/{out['id']}/survey", json={"action": "verify"}, headers=ward_member())
    assert r.status_code == 422 and "head" in r.json()["detail"]


def _batch(hh_ref: str, person_ref: str, batch_id: str = "b1", **person: object) -> dict:
    return {
        "device_id": "tablet-7", "batch_id": batch_id,
        "households": [{"client_ref": hh_ref, "area_code": WARD, "address": "Ward 8, house 3"}],
        "persons": [{"client_ref": person_ref, "household_client_ref": hh_ref, "role": "head",
                     "full_name": "Lakshmi Kanta", "sex": "male", "birth_date": "1980-01-01",
                     "identifiers": [{"type": "bd_brn", "value": brn(1980, 9)}], **person}],
    }


async def test_offline_batch_resend_is_idempotent(client, database_url):
    import asyncpg

    batch = _batch(new_ref(), new_ref())
    first = await client.post("/sync/batches", json=batch, headers=volunteer())
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["rows"]] == ["created", "created"]
    again = await client.post("/sync/batches", json=batch, headers=volunteer())
    assert again.json()["replayed"] is True and again.json()["rows"] == first.json()["rows"]
    # The same rows in a new batch are recognised by client_ref: unchanged, nothing written twice.
    third = await client.post("/sync/batches", json={**batch, "batch_id": "b2"}, headers=volunteer())
    assert [r["status"] for r in third.json()["rows"]] == ["unchanged", "unchanged"]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM registry.person") == 1
        assert await conn.fetchval("SELECT count(*) FROM registry.household") == 1
    finally:
        await conn.close()
    # Reusing a batch id for other content is refused.
    other = _batch(new_ref(), new_ref())
    r = await client.post("/sync/batches", json=other, headers=volunteer())
    assert r.status_code == 409


async def test_conflicting_offline_edit_is_reported_not_applied(client):
    hh, p = new_ref(), new_ref()
    created = (await client.post("/sync/batches", json=_batch(hh, p), headers=volunteer())).json()
    person_version = created["rows"][1]["version"]
    # Someone at the office edits the person meanwhile.
    person_id = created["rows"][1]["id"]
    r = await client.patch(f"/persons/{person_id}", json={"base_version": person_version, "occupation": "teacher"},
                           headers=volunteer(subject="office"))
    assert r.status_code == 200
    # The device, still on the old version, sends its own edit.
    stale = _batch(hh, p, batch_id="b2", occupation="farmer", base_version=person_version)
    stale["persons"][0]["base_version"] = person_version
    r = await client.post("/sync/batches", json=stale, headers=volunteer())
    person_row = r.json()["rows"][1]
    assert person_row["status"] == "conflict" and person_row["current_version"] == person_version + 1
    r = await client.get(f"/persons/{person_id}", headers=volunteer() | PURPOSE)
    assert r.json()["occupation"] == "teacher"
    # With the current version the edit goes through.
    fresh = _batch(hh, p, batch_id="b3", occupation="farmer")
    fresh["persons"][0]["base_version"] = person_version + 1
    r = await client.post("/sync/batches", json=fresh, headers=volunteer())
    assert r.json()["rows"][1]["status"] == "updated"


async def test_bad_rows_are_rejected_alone(client):
    batch = _batch(new_ref(), new_ref())
    batch["persons"].append({"client_ref": new_ref(), "household_client_ref": batch["households"][0]["client_ref"],
                             "role": "child", "full_name": "Bad", "sex": "female",
                             "identifiers": [{"type": "bd_brn", "value": "1234567890123456"}]})
    batch["households"].append({"client_ref": new_ref(), "area_code": OTHER_WARD, "address": "elsewhere"})
    r = await client.post("/sync/batches", json=batch, headers=volunteer())
    statuses = [(row["kind"], row["status"]) for row in r.json()["rows"]]
    assert statuses == [("household", "created"), ("household", "rejected"), ("person", "created"),
                        ("person", "rejected")]
    assert "16-digit" in r.json()["rows"][3]["reason"]


async def test_a_spouse_name_collected_offline_is_kept_and_can_be_corrected(client):
    """The survey form has a husband's or wife's name; it must survive the field workers' sync path."""
    hh, p = new_ref(), new_ref()
    created = await client.post("/sync/batches", json=_batch(hh, p, spouse_name="Rahima Khatun"), headers=volunteer())
    assert created.status_code == 200, created.text
    person_row = created.json()["rows"][1]
    assert person_row["status"] == "created"
    r = await client.get(f"/persons/{person_row['id']}", headers=volunteer() | PURPOSE)
    assert r.json()["spouse_name"] == "Rahima Khatun"
    fix = _batch(hh, p, batch_id="b-fix", spouse_name="Rahima Begum", base_version=person_row["version"])
    r = await client.post("/sync/batches", json=fix, headers=volunteer())
    assert r.json()["rows"][1]["status"] == "updated", r.text
    r = await client.get(f"/persons/{person_row['id']}", headers=volunteer() | PURPOSE)
    assert r.json()["spouse_name"] == "Rahima Begum"
