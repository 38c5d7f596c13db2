"""Consent withdrawal, audited coverage reads, the signed DCI replies (enrolled and search), periodic jobs
scheduled at startup, and the chain lanes that let concurrent postings to one scheme and month proceed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import httpx

from kernel import dci_signing
from tests.benefits.conftest import (
    START,
    THIS_MONTH,
    WARD,
    add_catalogue,
    admin,
    apply,
    department_client,
    grant,
    person_event,
)
from tests.conftest import identity_headers


def partner(name: str = "partner-app") -> dict[str, str]:
    return identity_headers(subject=name, kind="client", roles=["none"], scopes=["benefits:history"],
                            area_scope=["BD"])


async def _audit(database_url: str) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT action, record_type, record_id FROM benefits.audit_event ORDER BY id")
    finally:
        await conn.close()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_a_withdrawn_consent_stops_history_reads_and_both_are_audited(catalogue, session_factory,
                                                                           database_url, clock):
    person = person_event()
    await apply(session_factory, person)
    await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    consent = (await catalogue.post("/consents", json={
        "person_id": str(person.person_id), "purpose": "show my benefits", "artefact_ref": "otp:1",
        "expires_at": (START + timedelta(days=90)).isoformat()}, headers=partner())).json()
    history = f"/persons/{person.person_id}/history?consent={consent['id']}"
    assert (await catalogue.get(history, headers=partner())).status_code == 200
    # Another application can neither see nor withdraw it.
    assert (await catalogue.post(f"/consents/{consent['id']}/withdrawal", json={"reason": "x"},
                                 headers=partner("other-app"))).status_code == 404
    clock.advance(timedelta(days=3))
    withdrawn = await catalogue.post(f"/consents/{consent['id']}/withdrawal", json={"reason": "in the app"},
                                     headers=partner())
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["revoked_at"].startswith((START + timedelta(days=3)).date().isoformat())
    again = await catalogue.post(f"/consents/{consent['id']}/withdrawal", json={"reason": "twice"},
                                 headers=partner())
    assert again.status_code == 200 and again.json()["revoked_at"] == withdrawn.json()["revoked_at"]
    refused = await catalogue.get(history, headers=partner())
    assert refused.status_code == 403 and "withdrew" in refused.json()["detail"]
    assert (await catalogue.get(f"/consents/{consent['id']}", headers=partner())).json()["revoked_at"]
    actions = [a for a, _, _ in await _audit(database_url)]
    assert actions == ["consent.recorded", "history.read", "consent.withdrawn"]  # a refused read read nothing


async def test_coverage_reads_are_audited(catalogue, session_factory, database_url):
    person = person_event(birth_year=1940)
    await apply(session_factory, person)
    staff = identity_headers(subject="anganwadi-1", roles=["anganwadi_worker"], scopes=[], area_scope=[WARD])
    assert (await catalogue.get(f"/persons/{person.person_id}/coverage", headers=staff)).status_code == 200
    gaps = await catalogue.get(f"/coverage/gaps?area={WARD}&scheme=BD-OAA", headers=staff)
    assert gaps.status_code == 200 and gaps.json()["total"] == 1
    assert (await catalogue.get(f"/coverage/gaps.csv?area={WARD}&scheme=BD-OAA", headers=staff)).status_code == 200
    assert await _audit(database_url) == [("coverage.read", "person", str(person.person_id)),
                                          ("coverage.gaps.json", "area", WARD), ("coverage.gaps.csv", "area", WARD)]


def _envelope(kind: str, items: list[dict[str, object]]) -> dict[str, object]:
    return {"header": {"message_id": f"m-{kind}", "message_ts": START.isoformat(), "action": kind,
                       "sender_id": "ibr.bd", "total_count": len(items)},
            "message": {"transaction_id": "t-1", f"{kind}_request": items}}


async def test_dci_replies_are_signed_and_search_lists_every_programme(catalogue, session_factory):
    person = person_event(nid="19502698765432101")
    await apply(session_factory, person)
    first = (await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
             ).json()
    await catalogue.post(f"/entries/{first['id']}/reversal", json={"reason": "wrong account"},
                         headers=department_client())
    await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    keys = (await catalogue.get("/ibr/jwks.json", headers=department_client())).json()["keys"]
    query = {"query_type": "idtype-value", "query": {"type": "NID", "value": "2698765432101"}}
    r = await catalogue.post("/ibr/sync/search", json=_envelope("search", [
        {"reference_id": "s1", "search_criteria": query},
        {"reference_id": "s2", "search_criteria": {**query, "query": {"type": "NID", "value": "12"}}},
        {"reference_id": "s3", "search_criteria": {**query, "query": {"type": "passport", "value": "X1"}}},
    ]), headers=department_client())
    assert r.status_code == 200, r.text
    reply = r.json()
    dci_signing.verify(reply["signature"], reply["header"], reply["message"], keys, sender_id="gramsetu-benefits",
                       now=START.timestamp() + 10)
    answers = {a["reference_id"]: a for a in reply["message"]["search_response"]}
    (record,) = answers["s1"]["data"]["reg_records"]
    assert record["programme_identifier"][0]["programme_code"] == "BD-OAA"
    assert record["enrollment_status"] == "active" and record["enrollment_date"] == START.date().isoformat()
    assert sorted(b["benefit_amount"] for b in record["benefits"]) == ["600.00", "600.00", "600.00"]
    assert answers["s2"]["status_reason_code"] == "rjct.id_value.invalid"
    assert answers["s3"]["status_reason_code"] == "rjct.id_type.unsupported"
    assert "2698765432101" not in r.text
    enrolled = (await catalogue.post("/ibr/sync/enrolled", json=_envelope("enrolled", [
        {"reference_id": "e1", "enrolled_criteria": {**query, "programme_code": "BD-OAA"}}]),
        headers=department_client())).json()
    dci_signing.verify(enrolled["signature"], enrolled["header"], enrolled["message"], keys,
                       sender_id="gramsetu-benefits", now=START.timestamp())
    tampered = {**enrolled["message"], "transaction_id": "t-2"}
    try:
        dci_signing.verify(enrolled["signature"], enrolled["header"], tampered, keys, sender_id="gramsetu-benefits",
                           now=START.timestamp())
        raise AssertionError("a changed message must not verify")
    except dci_signing.SignatureError as exc:
        assert exc.code == "err.signature.invalid"


async def test_the_sweep_and_verify_jobs_are_scheduled_at_startup_without_any_scheme(benefits, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        kinds = {r["kind"] for r in await conn.fetch("SELECT kind FROM benefits.scheduled_job")}
        assert await conn.fetchval("SELECT count(*) FROM benefits.scheme") == 0
    finally:
        await conn.close()
    # Due at once, so the workers may already have run them and rescheduled them an interval later.
    assert {"benefits.sweep-all", "benefits.verify-chains"} <= kinds


async def test_concurrent_postings_to_one_month_take_separate_lanes_and_every_chain_verifies(
        served: httpx.AsyncClient, session_factory, database_url):
    catalogue = await add_catalogue(served)
    people = [person_event() for _ in range(12)]
    await apply(session_factory, *people)
    conn = await asyncpg.connect(database_url)
    try:
        # Hold lane 0 open in another transaction: the postings must not wait for it.
        await catalogue.post("/entries", json=grant(person_id=people[0].person_id), headers=department_client())
        holder = conn.transaction()
        await holder.start()
        await conn.execute("SELECT 1 FROM benefits.chain_head WHERE partition = $1 FOR UPDATE",
                           f"BD-OAA:{THIS_MONTH}.0")
        posted = await asyncio.wait_for(asyncio.gather(*(
            catalogue.post("/entries", json=grant(person_id=p.person_id), headers=department_client())
            for p in people[1:])), timeout=60)
        assert all(r.status_code == 201 for r in posted), [r.text for r in posted if r.status_code != 201]
        assert {r.json()["partition"] for r in posted} - {f"BD-OAA:{THIS_MONTH}.0"}
        await holder.rollback()
        lanes = await conn.fetch("SELECT partition, seq FROM benefits.chain_head ORDER BY partition")
    finally:
        await conn.close()
    assert sum(r["seq"] for r in lanes) == 12 and all(r["partition"].startswith(f"BD-OAA:{THIS_MONTH}.")
                                                      for r in lanes)
    report = (await catalogue.get(f"/ledger/verify?partition=BD-OAA:{THIS_MONTH}", headers=admin())).json()
    assert report["intact"] is True and report["entries"] == 12 and report["partitions_checked"] == len(lanes)
