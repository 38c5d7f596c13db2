"""Double dipping: the same human under two records the registry merged or linked, at posting and by the
sweep; the review queue's audited decisions (confirm -> recovery entry; dismiss with a reason)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from contracts.registry import PersonDuplicateDismissed, PersonDuplicateLinked, PersonMerged
from services.benefits.service import flags
from tests.benefits.conftest import WARD, apply, department_client, grant, person_event, reviewer


async def test_double_dipping_through_a_merged_record_is_held(catalogue, session_factory):
    survivor, merged = person_event(nid="19502698765432101"), person_event(full_name="Rahima Bibi")
    await apply(session_factory, survivor, merged)
    first = await catalogue.post("/entries", json=grant(person_id=survivor.person_id), headers=department_client())
    assert first.json()["decision"] == "accepted"
    await apply(session_factory, PersonMerged(survivor_id=survivor.person_id, merged_id=merged.person_id,
                                              area_code=WARD, decided_by="uno-1", survivor_version=2))
    second = await catalogue.post("/entries", json=grant(person_id=merged.person_id), headers=department_client())
    assert second.status_code == 201 and second.json()["decision"] == "held"
    flag = (await catalogue.get(f"/flags/{second.headers['X-Benefits-Flags']}", headers=reviewer())).json()
    assert flag["rule"] == "per_person" and flag["other_entry_ids"] == [first.json()["id"]]
    assert set(flag["evidence"]["same_person_records"]) == {str(survivor.person_id), str(merged.person_id)}
    # "Not together with": the widow allowance (which rejects) to the same human in the same month.
    widow = await catalogue.post("/entries", json=grant("BD-WIDOW", person_id=merged.person_id),
                                 headers=department_client())
    assert widow.status_code == 409 and widow.json()["evidence"]["conflicts"][0]["rule"] == "not_with"


async def test_sweep_finds_old_cases_after_a_link_and_reviewers_decide(catalogue, session_factory, database_url):
    a, b = person_event(), person_event(full_name="Rahima B.")
    await apply(session_factory, a, b)
    ea = (await catalogue.post("/entries", json=grant(person_id=a.person_id), headers=department_client())).json()
    eb = (await catalogue.post("/entries", json=grant(person_id=b.person_id), headers=department_client())).json()
    assert ea["decision"] == eb["decision"] == "accepted"
    link = PersonDuplicateLinked(candidate_id=uuid.uuid4(), person_id=a.person_id, other_person_id=b.person_id,
                                 area_code=WARD, match_probability=0.97, status="suspected", reasons=["name"])
    await apply(session_factory, link)
    # The link scheduled a sweep of that human's records; the service's scheduler runs it.
    queue = await wait_for_flags(catalogue, 1)
    async with session_factory() as session, session.begin():
        assert await flags.sweep_all(session) == 0  # a sweep never raises the same flag twice
    assert queue["total"] == 1 and queue["items"][0]["source"] == "sweep"
    found = queue["items"][0]
    assert found["entry_id"] == eb["id"]  # the later grant is the one flagged
    # Confirm: a recovery entry negates the later grant, in its chain; the decision is audited.
    r = await catalogue.post(f"/flags/{found['id']}/decision", json={"decision": "confirm",
                                                                       "reason": "same woman, two records"},
                             headers=reviewer())
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    recovery = (await catalogue.get(f"/entries/{r.json()['recovery_entry_id']}", headers=reviewer())).json()
    assert recovery["kind"] == "recovery" and recovery["amount_minor"] == -60000
    assert recovery["reverses_id"] == found["entry_id"]
    again = await catalogue.post(f"/flags/{found['id']}/decision", json={"decision": "dismiss", "reason": "oops"},
                                 headers=reviewer())
    assert again.status_code == 409
    conn = await asyncpg.connect(database_url)
    try:
        audit = await conn.fetchrow("SELECT actor, action, purpose FROM benefits.audit_event WHERE record_id = $1",
                                    found["id"])
    finally:
        await conn.close()
    assert tuple(audit) == ("uno-1", "flag.confirm", "same woman, two records")
    # Once the registry dismisses the link, the two are separate people again.
    await apply(session_factory, PersonDuplicateDismissed(candidate_id=link.candidate_id, person_id=a.person_id,
                                                          other_person_id=b.person_id, area_code=WARD,
                                                          decided_by="uno-1", reason="sisters"))
    third = await catalogue.post("/entries", json=grant(person_id=b.person_id), headers=department_client())
    assert third.json()["decision"] == "accepted"


async def wait_for_flags(client, count: int, deadline: float = 20.0) -> dict:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        queue = (await client.get("/flags", headers=reviewer())).json()
        if queue["total"] >= count or loop.time() > end:
            return queue  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)


async def test_dismiss_needs_a_reason_and_only_reviewers_decide(catalogue, session_factory):
    person = person_event()
    await apply(session_factory, person)
    await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    held = await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    flag_id = held.headers["X-Benefits-Flags"]
    no_reason = await catalogue.post(f"/flags/{flag_id}/decision", json={"decision": "dismiss", "reason": ""},
                                     headers=reviewer())
    assert no_reason.status_code == 422
    not_reviewer = await catalogue.post(f"/flags/{flag_id}/decision",
                                        json={"decision": "dismiss", "reason": "arrears for last month"},
                                        headers=department_client())
    assert not_reviewer.status_code == 403
    ok = await catalogue.post(f"/flags/{flag_id}/decision",
                              json={"decision": "dismiss", "reason": "arrears for last month"}, headers=reviewer())
    assert ok.status_code == 200 and ok.json()["status"] == "dismissed" and ok.json()["recovery_entry_id"] is None
