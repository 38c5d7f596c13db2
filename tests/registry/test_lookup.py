"""POST /persons/lookup (the one-statement hot path): same record as GET, scope, purpose,
masking, live identifiers only, and one audit row per person returned by every read."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.registry.repository.lookup import PERSON_COLUMNS
from services.registry.routes.persons import LookupResult
from services.registry.schemas.persons import PersonOut
from services.registry.service.lookup import shape
from tests.registry.conftest import (
    OTHER_WARD,
    PURPOSE,
    UNION,
    WARD,
    aadhaar,
    brn,
    create_household,
    household,
    member,
    volunteer,
    ward_member,
)

NID = "19702698765432101"


async def _audit_rows(database_url: str, record_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT actor, action, purpose, request_id, details FROM registry.audit_event "
            "WHERE action = 'lookup' AND record_id = $1 ORDER BY id", record_id)
    finally:
        await conn.close()


async def _head(client: Any, **extra: Any) -> dict[str, Any]:
    out = await create_household(client, household(members=[member(
        "রহিম উদ্দিন", "male", "head", birth_date="1970-03-01", birth_date_source="nid", phones=["01712345678"],
        identifiers=[{"type": "bd_nid", "value": NID}, {"type": "bd_brn", "value": brn(1970, 4713220012345)}],
        **extra)]))
    return out["members"][0]  # type: ignore[no-any-return]


async def test_lookup_returns_the_full_record_masked_and_audits_every_read(client, database_url):
    head = await _head(client, occupation="farmer", marital_status="married", spouse_name="করিমা বেগম")
    full = await client.get(f"/persons/{head['id']}", headers=volunteer() | PURPOSE)
    request_ids = []
    for _ in range(2):
        r = await client.post("/persons/lookup", json={"type": "bd_nid", "value": NID},
                              headers=ward_member(subject="ward-member-9") | PURPOSE)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        request_ids.append(r.headers["x-request-id"])
        # Byte-for-byte the shape the model documents, and the same values as the audited GET.
        assert LookupResult.model_validate(r.json()).model_dump(mode="json") == r.json()
        assert r.json()["items"] == [full.json()]
        assert NID not in r.text and "2698765432101" not in r.text
    item = r.json()["items"][0]
    assert [(i["type"], i["masked"]) for i in item["identifiers"]] == [
        ("bd_brn", "XXXX XXXX 2345"), ("bd_nid", "XXXX XXXX 2101")]
    assert item["household_id"] and item["role"] == "head" and item["age"] is not None
    rows = await _audit_rows(database_url, head["id"])
    assert [(r["actor"], r["purpose"], r["request_id"]) for r in rows] == [
        ("ward-member-9", PURPOSE["X-Purpose"], rid) for rid in request_ids]
    assert '"id_type": "bd_nid"' in rows[0]["details"] and '"kind": "user"' in rows[0]["details"]


def test_the_lookup_record_has_every_field_of_the_person_record_in_its_order():
    # The hot path builds the record by hand: a field added to PersonOut must be added here too.
    row = dict.fromkeys(PERSON_COLUMNS) | {"household_id": None, "role": None, "ident_id": None}
    [person] = shape([row])  # type: ignore[list-item]
    assert list(person) == list(PersonOut.model_fields)


async def test_lookup_outside_scope_is_404_without_audit(client, database_url):
    head = await _head(client)
    body = {"type": "bd_nid", "value": NID}
    for scope in (OTHER_WARD, WARD[:-1], "IN"):  # a sibling, a code that is only a string prefix, another country
        r = await client.post("/persons/lookup", json=body, headers=ward_member(scope) | PURPOSE)
        assert r.status_code == 404, scope
        assert r.headers["content-type"] == "application/problem+json"
        assert "রহিম" not in r.text
    assert await _audit_rows(database_url, head["id"]) == []
    for scope in (WARD, UNION, "BD"):
        r = await client.post("/persons/lookup", json=body, headers=ward_member(scope) | PURPOSE)
        assert r.status_code == 200, scope
    assert len(await _audit_rows(database_url, head["id"])) == 3


async def test_lookup_needs_a_purpose_and_a_valid_identifier(client, database_url):
    head = await _head(client)
    r = await client.post("/persons/lookup", json={"type": "bd_nid", "value": NID}, headers=ward_member())
    assert r.status_code == 422 and "X-Purpose" in r.json()["detail"]
    r = await client.post("/persons/lookup", json={"type": "bd_nid", "value": "12"}, headers=ward_member() | PURPOSE)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "value"
    r = await client.post("/persons/lookup", json={"type": "passport", "value": NID}, headers=ward_member() | PURPOSE)
    assert r.status_code == 422
    r = await client.post("/persons/lookup", json={"type": "bd_nid", "value": NID},
                          headers=identity_without_read_scope() | PURPOSE)
    assert r.status_code == 403
    assert await _audit_rows(database_url, head["id"]) == []


def identity_without_read_scope() -> dict[str, str]:
    from tests.conftest import identity_headers

    return identity_headers(subject="other", roles=["x"], scopes=["benefits:read"], area_scope=[WARD])


async def test_ended_identifiers_are_neither_found_nor_listed(client):
    head = await _head(client)
    brn_id = next(i["id"] for i in head["identifiers"] if i["type"] == "bd_brn")
    r = await client.post(f"/persons/{head['id']}/identifiers/{brn_id}/end", json={"reason": "typo on the form"},
                          headers=volunteer())
    assert r.status_code == 200, r.text
    r = await client.post("/persons/lookup", json={"type": "bd_brn", "value": brn(1970, 4713220012345)},
                          headers=ward_member() | PURPOSE)
    assert r.status_code == 404
    r = await client.post("/persons/lookup", json={"type": "bd_nid", "value": NID}, headers=ward_member() | PURPOSE)
    assert [i["type"] for i in r.json()["items"][0]["identifiers"]] == ["bd_nid"]


async def test_every_holder_is_returned_and_audited_until_merged(client, database_url):
    people = []
    for name in ("Karim Mia", "Karim Miah"):
        out = await create_household(client, household(members=[member(
            name, "male", "head", birth_date="1980-05-05", identifiers=[{"type": "aadhaar", "value": aadhaar(5)}])]))
        people.append(out["members"][0]["id"])
    body = {"type": "aadhaar", "value": aadhaar(5)}
    r = await client.post("/persons/lookup", json=body, headers=ward_member() | PURPOSE)
    assert r.status_code == 200 and sorted(p["id"] for p in r.json()["items"]) == sorted(people)
    for person_id in people:
        assert len(await _audit_rows(database_url, person_id)) == 1
    cand = (await client.get("/duplicates", headers=volunteer() | PURPOSE)).json()["items"][0]
    r = await client.post(f"/duplicates/{cand['id']}/merge", json={"survivor_id": people[0], "note": "same man"},
                          headers=volunteer())
    assert r.status_code == 200, r.text
    r = await client.post("/persons/lookup", json=body, headers=ward_member() | PURPOSE)
    assert [p["id"] for p in r.json()["items"]] == [people[0]]
    assert len(await _audit_rows(database_url, people[1])) == 1  # the merged record was not read again
