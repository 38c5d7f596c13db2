"""The ledger: reversals, tamper evidence (verify), rule versions that never rewrite earlier decisions."""

from __future__ import annotations

import asyncpg
import pytest

from tests.benefits.conftest import admin, apply, department_client, grant, person_event, reviewer


async def test_reversal_once_and_never_of_a_reversal(catalogue, session_factory):
    person = person_event()
    await apply(session_factory, person)
    entry = (await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
             ).json()
    body = {"reason": "paid to the wrong account", "department_ref": "DSS-REV-1"}
    rev = await catalogue.post(f"/entries/{entry['id']}/reversal", json=body, headers=department_client())
    assert rev.status_code == 201, rev.text
    assert rev.json()["kind"] == "reversal" and rev.json()["amount_minor"] == -60000
    assert rev.json()["partition"] == entry["partition"] and rev.json()["seq"] == entry["seq"] + 1
    again = await catalogue.post(f"/entries/{entry['id']}/reversal", json=body, headers=department_client())
    assert again.status_code == 200 and again.json()["id"] == rev.json()["id"]
    twice = await catalogue.post(f"/entries/{entry['id']}/reversal", json={"reason": "again"},
                                 headers=department_client())
    assert twice.status_code == 409
    of_reversal = await catalogue.post(f"/entries/{rev.json()['id']}/reversal", json={"reason": "undo the undo"},
                                       headers=department_client())
    assert of_reversal.status_code == 409 and of_reversal.json()["errors"][0]["reason"] == "is a reversal"
    other = await catalogue.post(f"/entries/{entry['id']}/reversal", json={"reason": "not mine"},
                                 headers=department_client("BD-DRR"))
    assert other.status_code == 403
    # The reversed grant no longer counts: the person can be paid for the month again.
    repost = await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    assert repost.json()["decision"] == "accepted"


async def test_verify_finds_a_changed_row_and_where_the_chain_breaks(catalogue, session_factory, database_url):
    people = [person_event() for _ in range(4)]
    await apply(session_factory, *people)
    for p in people:
        r = await catalogue.post("/entries", json=grant(person_id=p.person_id), headers=department_client())
        assert r.status_code == 201
    ok = await catalogue.get("/ledger/verify", headers=admin())
    assert ok.status_code == 200 and ok.json()["intact"] is True and ok.json()["entries"] == 4
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE benefits.entry SET amount_minor = 6000000 WHERE seq = 3")
        broken = (await catalogue.get("/ledger/verify", headers=admin())).json()
        assert broken["intact"] is False
        assert broken["broken"][0]["first_broken_seq"] == 3
        assert "does not match its hash" in broken["broken"][0]["problems"][0]
        # Rewriting the hash too moves the break to the link from the next row.
        await conn.execute("UPDATE benefits.entry SET amount_minor = 60000 WHERE seq = 3")
        await conn.execute("UPDATE benefits.entry SET hash = sha256(hash) WHERE seq = 2")
        broken = (await catalogue.get("/ledger/verify", headers=admin())).json()
        assert broken["broken"][0]["first_broken_seq"] == 2
        # Dropping the last row is caught by the signed head.
        await conn.execute("UPDATE benefits.entry SET hash = (SELECT prev_hash FROM benefits.entry e WHERE e.seq = 3) "
                           "WHERE seq = 2")
        assert (await catalogue.get("/ledger/verify", headers=admin())).json()["intact"] is True
        await conn.execute("DELETE FROM benefits.entry WHERE seq = 4")
        broken = (await catalogue.get("/ledger/verify", headers=admin())).json()
        assert broken["intact"] is False and "signed head" in " ".join(broken["broken"][0]["problems"])
    finally:
        await conn.close()


async def test_a_rule_change_never_alters_earlier_decisions(catalogue, session_factory):
    person = person_event()
    await apply(session_factory, person)
    first = (await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
             ).json()
    second = await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    assert second.json()["decision"] == "held" and second.json()["rule_version"] == 1
    flag_id = second.headers["X-Benefits-Flags"]
    # Version 2 allows two payments a month (say, arrears) and refuses conflicts instead of holding them.
    v2 = {"eligibility": {"all": [{"attr": "age", "op": "ge", "value": 60}]},
          "exclusivity": {"per_person": False}, "policy": {"on_conflict": "reject", "unknown_person": "reject"}}
    r = await catalogue.post("/schemes/BD-OAA/rules", json=v2, headers=admin())
    assert r.status_code == 201 and r.json()["version"] == 2
    # What was decided under version 1 stands: the entry, its decision, its flag.
    held = (await catalogue.get(f"/entries/{second.json()['id']}", headers=department_client())).json()
    assert (held["decision"], held["rule_version"], held["hash"]) == ("held", 1, second.json()["hash"])
    assert (await catalogue.get(f"/flags/{flag_id}", headers=reviewer())).json()["status"] == "open"
    third = await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    assert third.json()["decision"] == "accepted" and third.json()["rule_version"] == 2
    versions = (await catalogue.get("/schemes/BD-OAA/rules", headers=admin())).json()
    assert [v["version"] for v in versions] == [1, 2] and versions[0]["exclusivity"]["per_person"] is True
    assert first["rule_version"] == 1
    assert (await catalogue.get("/ledger/verify", headers=admin())).json()["intact"] is True


@pytest.mark.slow  # two CLI processes; the API test above covers the same verification
async def test_cli_verify_reports_a_broken_chain_with_exit_status_1(catalogue, session_factory, database_url):
    import asyncio
    import os
    import sys

    people = [person_event() for _ in range(2)]
    await apply(session_factory, *people)
    for p in people:
        await catalogue.post("/entries", json=grant(person_id=p.person_id), headers=department_client())

    async def run() -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gramsetu.cli", "benefits", "verify", "--json",
            env={**os.environ, "GRAMSETU_DATABASE_URL": database_url, "GRAMSETU_NATS_URL": "nats://127.0.0.1:1"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    code, out = await run()
    assert code == 0 and '"intact": true' in out
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE benefits.entry SET channel = 'cash' WHERE seq = 2")
    finally:
        await conn.close()
    code, out = await run()
    assert code == 1 and '"first_broken_seq": 2' in out
