"""Coverage (person, household, area counts and the field list), transparency with small-cell suppression,
a person's own history under consent, and the DCI-style enrolled query."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from tests.benefits.conftest import (
    OTHER_WARD,
    START,
    UPAZILA,
    WARD,
    apply,
    department_client,
    grant,
    household_event,
    person_event,
)
from tests.conftest import identity_headers


def field_staff() -> dict[str, str]:
    return identity_headers(subject="anganwadi-1", roles=["anganwadi_worker"], scopes=[], area_scope=[WARD])


def public() -> dict[str, str]:
    return identity_headers(subject="public-portal", kind="client", roles=["none"], scopes=["benefits:public"],
                            area_scope=[])


def partner() -> dict[str, str]:
    return identity_headers(subject="partner-app", kind="client", roles=["none"], scopes=["benefits:history"],
                            area_scope=["BD"])


async def test_person_household_and_area_coverage(catalogue, session_factory):
    old = [person_event(birth_year=1940 + i) for i in range(3)]  # 86, 85, 84: eligible for old-age allowance
    young = person_event(birth_year=1990)
    unknown_age = person_event(birth_year=None)  # type: ignore[arg-type]
    elsewhere = person_event(birth_year=1940, area=OTHER_WARD)
    hh = household_event([old[0].person_id, young.person_id])
    await apply(session_factory, *old, young, unknown_age, elsewhere, hh)
    await apply(session_factory, person_event(person_id=old[0].person_id, birth_year=1940, household_id=hh.household_id,
                                              version=2))
    r = await catalogue.post("/entries", json=grant(person_id=old[0].person_id), headers=department_client())
    assert r.json()["decision"] == "accepted"
    mine = (await catalogue.get(f"/persons/{old[0].person_id}/coverage", headers=field_staff())).json()
    oaa = next(s for s in mine["schemes"] if s["scheme"] == "BD-OAA")
    assert oaa["eligible"] and oaa["covered"] and oaa["rule_version"] == 1
    widow = next(s for s in mine["schemes"] if s["scheme"] == "BD-WIDOW")
    assert widow["eligible"] is False and widow["unknown_facts"] == ["marital_status"]
    nobody = (await catalogue.get(f"/persons/{unknown_age.person_id}/coverage", headers=field_staff())).json()
    assert next(s for s in nobody["schemes"] if s["scheme"] == "BD-OAA")["unknown_facts"] == ["age"]
    house = (await catalogue.get(f"/households/{hh.household_id}/coverage", headers=field_staff())).json()
    assert [s["scheme"] for s in house["schemes"]] == ["BD-VGF"] and house["schemes"][0]["covered"] is False
    assert len(house["members"]) == 2
    counts = (await catalogue.get(f"/coverage?area={WARD}&scheme=BD-OAA", headers=field_staff())).json()
    assert (counts["persons"], counts["eligible"], counts["eligible_covered"], counts["eligible_not_covered"]) == (
        5, 3, 1, 2)
    gaps = (await catalogue.get(f"/coverage/gaps?area={WARD}&scheme=BD-OAA&limit=1", headers=field_staff())).json()
    assert gaps["total"] == 2 and len(gaps["items"]) == 1 and gaps["next"].startswith("/benefits/coverage/gaps?")
    rest = (await catalogue.get(gaps["next"].removeprefix("/benefits"), headers=field_staff())).json()
    assert {gaps["items"][0]["person_id"], rest["items"][0]["person_id"]} == {str(old[1].person_id),
                                                                               str(old[2].person_id)}
    sheet = await catalogue.get(f"/coverage/gaps.csv?area={WARD}&scheme=BD-OAA", headers=field_staff())
    assert sheet.status_code == 200 and sheet.text.count("\n") == 3
    outside = await catalogue.get(f"/persons/{elsewhere.person_id}/coverage", headers=field_staff())
    assert outside.status_code == 404
    assert (await catalogue.get(f"/coverage?area={UPAZILA}&scheme=BD-OAA", headers=field_staff())).status_code == 404


async def test_transparency_suppresses_small_cells_for_a_public_client(catalogue, session_factory):
    many = [person_event() for _ in range(6)]
    few = [person_event(area=OTHER_WARD) for _ in range(2)]
    await apply(session_factory, *many, *few)
    entries = [grant(person_id=p.person_id) for p in many + few]
    assert (await catalogue.post("/entries/batch", json={"entries": entries}, headers=department_client())
            ).json()["accepted"] == 8
    r = await catalogue.get(f"/transparency/summary?area={UPAZILA}-54", headers=public())
    assert r.status_code == 200, r.text
    rows = {row["area_code"]: row for row in r.json()["rows"]}
    assert rows[WARD]["beneficiaries"] == 6 and rows[WARD]["amount_minor"] == 360000 and not rows[WARD]["suppressed"]
    assert rows[OTHER_WARD]["suppressed"] and rows[OTHER_WARD]["beneficiaries"] is None
    assert rows[OTHER_WARD]["amount_minor"] is None
    assert (await catalogue.get("/entries?scheme=BD-OAA", headers=public())).status_code == 403


async def test_own_history_needs_consent_and_the_read_is_audited(catalogue, session_factory, database_url):
    person = person_event(nid="19502698765432101")
    await apply(session_factory, person)
    await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    expires = (START + timedelta(days=30)).isoformat()
    no_consent = await catalogue.get(f"/persons/{person.person_id}/history?consent={uuid.uuid4()}", headers=partner())
    assert no_consent.status_code == 404
    consent = await catalogue.post("/consents", json={
        "identifier": {"type": "bd_nid", "value": "2698765432101"}, "purpose": "show my benefits in the app",
        "artefact_ref": "otp:7781-22", "expires_at": expires}, headers=partner())
    assert consent.status_code == 201, consent.text
    cid = consent.json()["id"]
    mine = await catalogue.get(f"/persons/{person.person_id}/history?consent={cid}", headers=partner())
    assert mine.status_code == 200 and mine.json()["total"] == 1
    other_app = identity_headers(subject="other-app", kind="client", roles=["none"], scopes=["benefits:history"])
    assert (await catalogue.get(f"/persons/{person.person_id}/history?consent={cid}", headers=other_app)
            ).status_code == 403
    conn = await asyncpg.connect(database_url)
    try:
        audit = await conn.fetch("SELECT action, actor, purpose FROM benefits.audit_event ORDER BY id")
    finally:
        await conn.close()
    assert [tuple(a) for a in audit] == [("consent.recorded", "partner-app", "show my benefits in the app"),
                                         ("history.read", "partner-app", "show my benefits in the app")]


async def test_dci_enrolled_query(catalogue, session_factory):
    person = person_event(nid="19502698765432101")
    await apply(session_factory, person)
    await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    envelope = {
        "header": {"message_id": "m-1", "message_ts": START.isoformat(), "action": "enrolled",
                   "sender_id": "ibr.bd", "total_count": 3},
        "message": {"transaction_id": "t-1", "enrolled_request": [
            {"reference_id": "r1", "enrolled_criteria": {"programme_code": "BD-OAA", "query_type": "idtype-value",
                                                         "query": {"type": "NID", "value": "2698765432101"}}},
            {"reference_id": "r2", "enrolled_criteria": {"programme_code": "BD-WIDOW", "query_type": "idtype-value",
                                                         "query": {"type": "NID", "value": "2698765432101"}}},
            {"reference_id": "r3", "enrolled_criteria": {"programme_code": "NOPE", "query_type": "idtype-value",
                                                         "query": {"type": "NID", "value": "2698765432101"}}},
        ]}}
    r = await catalogue.post("/ibr/sync/enrolled", json=envelope, headers=department_client())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["header"]["action"] == "on-enrolled" and body["message"]["transaction_id"] == "t-1"
    answers = {a["reference_id"]: a for a in body["message"]["enrolled_response"]}
    assert answers["r1"]["data"]["enrolled"] is True and answers["r1"]["data"]["entries"][0]["amount_minor"] == 60000
    assert answers["r2"]["data"]["enrolled"] is False
    assert answers["r3"]["status"] == "rjct" and answers["r3"]["status_reason_code"] == "rjct.programme_code.unknown"
    assert "2698765432101" not in r.text
    bad = await catalogue.post("/ibr/sync/enrolled", json={"header": {}}, headers=department_client())
    assert bad.status_code == 422


async def test_the_registry_copy_says_how_current_it_is_and_coverage_carries_its_date(catalogue, session_factory,
                                                                                      clock):
    empty = await catalogue.get("/registry-copy", headers=field_staff())
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"last_event_at": None, "last_applied_at": None, "lag_seconds": None,
                            "events_applied": 0, "persons": 0, "households": 0, "active_links": 0}
    assert (await catalogue.get("/registry-copy", headers=identity_headers(roles=["none"], scopes=[]))
            ).status_code == 403

    ten_minutes_ago = START - timedelta(minutes=10)
    widow = person_event(birth_year=1950, household_id=uuid.uuid4())
    await apply(session_factory, widow, household_event([widow.person_id], hid=widow.household_id),
                at=ten_minutes_ago)
    clock.advance(timedelta(seconds=90))
    copy = (await catalogue.get("/registry-copy", headers=field_staff())).json()
    assert copy["last_event_at"] == ten_minutes_ago.isoformat().replace("+00:00", "Z")
    assert copy["lag_seconds"] == 690.0  # the service's now (START + 90 s) minus the newest event
    assert (copy["events_applied"], copy["persons"], copy["households"]) == (2, 1, 1)

    # An older event delivered late is applied, but does not make the copy look older or newer than it is.
    await apply(session_factory, person_event(), at=START - timedelta(hours=5))
    later = (await catalogue.get("/registry-copy", headers=field_staff())).json()
    assert (later["last_event_at"], later["lag_seconds"]) == (copy["last_event_at"], 690.0)
    assert (later["events_applied"], later["persons"]) == (3, 2)

    person = (await catalogue.get(f"/persons/{widow.person_id}/coverage", headers=field_staff())).json()
    area = (await catalogue.get("/coverage", params={"area": WARD, "scheme": "BD-OAA"}, headers=field_staff())).json()
    assert person["registry_as_of"] == area["registry_as_of"] == copy["last_event_at"]
