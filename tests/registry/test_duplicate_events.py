"""A reviewer's decision on a possible duplicate reaches other services as an event, and a dismissed
pair never returns to the queue."""

from __future__ import annotations

import asyncio

from tests.registry.conftest import PURPOSE, aadhaar, bus_events, create_household, household, member, volunteer


async def _pair(client, seed: int) -> tuple[dict, str, str]:
    first = await create_household(client, household(members=[
        member("Karim Mia", "male", "head", birth_date="1980-05-05",
               identifiers=[{"type": "aadhaar", "value": aadhaar(seed)}])]))
    second = await create_household(client, household(members=[
        member("Karim Miah", "male", "head", birth_date="1980-05-05",
               identifiers=[{"type": "aadhaar", "value": aadhaar(seed)}])]))
    items = (await client.get("/duplicates", headers=volunteer() | PURPOSE)).json()["items"]
    assert len(items) == 1
    return items[0], first["members"][0]["id"], second["members"][0]["id"]


async def test_merge_emits_confirmed_link_and_dismiss_emits_dismissed(client, nats_url, database_url):
    cand, survivor, merged = await _pair(client, 41)
    r = await client.post(f"/duplicates/{cand['id']}/merge", json={"survivor_id": survivor, "note": "same man"},
                          headers=volunteer())
    assert r.status_code == 200, r.text
    linked = "registry.person.duplicate_linked.v1"
    for _ in range(50):  # both events of the pair, whatever order the relay published them in
        envelopes = await bus_events(nats_url, database_url, {linked, "registry.person.merged.v1"})
        statuses = {e.data["status"]: e.data for e in envelopes if e.type == linked}
        if len(statuses) == 2:
            break
        await asyncio.sleep(0.1)
    assert set(statuses) == {"suspected", "confirmed"}  # the matcher suspected it when queued; the reviewer agreed
    data = statuses["confirmed"]
    assert data["candidate_id"] == cand["id"] == statuses["suspected"]["candidate_id"]
    assert {data["person_id"], data["other_person_id"]} == {survivor, merged} and "aadhaar" in data["reasons"]

    cand, one, other = await _pair(client, 42)
    r = await client.post(f"/duplicates/{cand['id']}/dismiss", json={"note": "twins, checked"}, headers=volunteer())
    assert r.status_code == 200, r.text
    dismissed = "registry.person.duplicate_dismissed.v1"
    envelopes = await bus_events(nats_url, database_url, {dismissed})
    data = next(e.data for e in envelopes if e.type == dismissed)
    assert {data["person_id"], data["other_person_id"]} == {one, other}
    assert data["reason"] == "twins, checked" and data["decided_by"] == "volunteer-1"


async def test_dismissed_pair_is_not_queued_again(client):
    made = [await create_household(client, household(members=[
        member(name, "female", "head", birth_date=dob, father_name="Abdul Karim")]))
        for name, dob in (("Sumi Akter", "2011-03-01"), ("Sumi Akter", "2010-03-01"))]
    items = (await client.get("/duplicates", headers=volunteer() | PURPOSE)).json()["items"]
    assert len(items) == 1
    r = await client.post(f"/duplicates/{items[0]['id']}/dismiss", json={"note": "sisters, checked"}, headers=volunteer())
    assert r.status_code == 200, r.text
    # The same Aadhaar on both would be a new reason to flag them; the reviewer already said no.
    for h in made:
        r = await client.post(f"/persons/{h['members'][0]['id']}/identifiers",
                              json={"type": "aadhaar", "value": aadhaar(44)}, headers=volunteer())
        assert r.status_code == 201, r.text
    assert (await client.get("/duplicates", headers=volunteer() | PURPOSE)).json()["total"] == 0
