"""Bulk import streamed in chunks, validated in worker processes: the whole-file rules still hold
when a household's rows are spread over chunks, come back after another household, or lose their
head late, and the events that go out are exactly those of what landed."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from contracts.base import Envelope
from tests.registry.conftest import WARD, bus_events, volunteer
from tests.registry.test_imports import person_row, sheet, upload

WORKER_MODES = {
    "worker-processes": {"GRAMSETU_REGISTRY_IMPORT_WORKERS": "2", "GRAMSETU_REGISTRY_IMPORT_WORKERS_FROM_BYTES": "0"},
    "inline": {"GRAMSETU_REGISTRY_IMPORT_WORKERS": "0"},
}


@pytest.fixture(params=list(WORKER_MODES))
def small_chunks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GRAMSETU_REGISTRY_IMPORT_CHUNK_ROWS", "3")
    for key, value in WORKER_MODES[request.param].items():
        monkeypatch.setenv(key, value)
    return str(request.param)


def scattered_file() -> list[dict[str, Any]]:
    return [
        # A: two members, the head only in the next chunk (memberships wait for the household row).
        person_row("A", 2, "spouse", "Amina", "female"),
        person_row("A", 3, "child", "Arif", "male"),
        person_row("A", 1, "head", "Abul", "male", address="Line one\nLine two, \"quoted\""),
        # B: head and member, then C, then B again (a scattered household).
        person_row("B", 1, "head", "Bilkis", "female"),
        person_row("B", 2, "child", "Babu", "male"),
        person_row("C", 1, "head", "Chand", "male"),
        person_row("B", 3, "child", "Bina", "female"),
        # D: a valid household ... until a second head turns up after it was closed.
        person_row("D", 1, "head", "Dalim", "male"),
        person_row("D", 2, "spouse", "Dilara", "female"),
        person_row("C", 2, "spouse", "Champa", "female"),
        person_row("D", 3, "head", "Delwar", "male"),
        # E: no head at all.
        person_row("E", 1, "child", "Emon", "male"),
        # Repeated rows: within a chunk of B's return and of a closed household (C).
        person_row("C", 2, "spouse", "Champa again", "female"),
        person_row("B", 2, "child", "Babu again", "male"),
        person_row("F", 1, "head", "", "female"),  # invalid: no name
    ]


async def fetch(database_url: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_households_spread_over_chunks_follow_the_whole_file_rules(client, database_url, nats_url,
                                                                          small_chunks):
    r = await upload(client, sheet(scattered_file()))
    assert r.status_code == 201, r.text
    job = r.json()
    # 15 rows: A(3) B(3) C(2) land; D(3) and E(1) rejected whole, 2 repeated rows, F invalid.
    assert (job["rows_total"], job["rows_valid"], job["rows_invalid"]) == (15, 8, 7)
    assert (job["persons_created"], job["households_created"], job["persons_existing"]) == (8, 3, 0)
    assert job["households_updated"] == 2  # B and C came back after another household
    report = (await client.get(f"/imports/{job['id']}", headers=volunteer())).json()
    reasons = {(e["row"], e["field"]): e["reason"] for e in report["errors"]}
    for row in (9, 10, 12):  # D's rows, header is row 1
        assert "exactly one head; this one has 2" in reasons[(row, "role")]
    assert "no valid head" in reasons[(13, "role")]
    assert "earlier row" in reasons[(14, "member_no")] and "earlier row" in reasons[(15, "member_no")]
    assert reasons[(16, "full_name")] == "required"
    # The tables hold exactly the landed households, each with its head and members.
    rows = await fetch(database_url, "SELECT h.client_ref, h.address, count(m.id) AS members, "
                                     "count(m.id) FILTER (WHERE m.role = 'head') AS heads "
                                     "FROM registry.household h JOIN registry.membership m ON m.household_id = h.id "
                                     "GROUP BY h.client_ref, h.address ORDER BY h.client_ref")
    assert [(r["client_ref"], r["members"], r["heads"]) for r in rows] == [("A", 3, 1), ("B", 3, 1), ("C", 2, 1)]
    assert rows[0]["address"] == 'Line one\nLine two, "quoted"'
    assert {r["full_name"] for r in await fetch(database_url, "SELECT full_name FROM registry.person")} == {
        "Amina", "Arif", "Abul", "Bilkis", "Babu", "Chand", "Bina", "Champa"}
    assert not await fetch(database_url, "SELECT 1 FROM registry.person WHERE full_name LIKE 'D%' OR full_name = 'Emon'")
    provenance = await fetch(database_url, "SELECT import_row FROM registry.person WHERE import_id = $1 "
                                           "ORDER BY import_row", job["id"])
    assert [p["import_row"] for p in provenance] == [2, 3, 4, 5, 6, 7, 8, 11]
    # Events: one per landed person, one created per household, and B's and C's returns as updates.
    wanted = {"registry.person.registered.v1", "registry.household.created.v1", "registry.household.updated.v1"}
    events = [e for e in await bus_events(nats_url, database_url, wanted) if e.type in wanted]
    by_type: dict[str, list[Envelope]] = {}
    for envelope in events:
        by_type.setdefault(envelope.type, []).append(envelope)
        # each validates against its contract and carries its entity version as envelope_for() would
        assert (envelope.entity, envelope.entity_version) == envelope.event().ordering()
    persons = {str(p["id"]) for p in await fetch(database_url, "SELECT id FROM registry.person")}
    assert {e.data["person_id"] for e in by_type["registry.person.registered.v1"]} == persons
    assert len(by_type["registry.person.registered.v1"]) == 8
    assert len(by_type["registry.household.created.v1"]) == 3
    updates = sorted(len(e.data["member_ids"]) for e in by_type["registry.household.updated.v1"])
    assert updates == [2, 3] and {e.data["version"] for e in by_type["registry.household.updated.v1"]} == {2}
    created_a = next(e for e in by_type["registry.household.created.v1"] if len(e.data["member_ids"]) == 3)
    head_a = await fetch(database_url, "SELECT id FROM registry.person WHERE full_name = 'Abul'")
    assert created_a.data["head_person_id"] == str(head_a[0]["id"])
    assert created_a.data["member_ids"][0] == str(head_a[0]["id"])  # the head first


async def test_members_added_to_existing_households_by_the_workers(client, database_url, nats_url, small_chunks):
    first = [person_row("H1", 1, "head", "Habib", "male"), person_row("H2", 1, "head", "Hasina", "female")]
    assert (await upload(client, sheet(first))).status_code == 201
    amended = [*first, person_row("H1", 2, "spouse", "Hena", "female"),
               person_row("H2", 2, "child", "Hridoy", "male"), person_row("H2", 3, "head", "Hanif", "male")]
    r = await upload(client, sheet(amended))
    assert r.status_code == 201, r.text
    job = r.json()
    # H2 already has a head: the whole of its new part is rejected; H1 gains its member.
    assert (job["persons_existing"], job["persons_created"], job["households_updated"]) == (2, 1, 1)
    rows = await fetch(database_url, "SELECT h.client_ref, p.full_name FROM registry.membership m "
                                     "JOIN registry.household h ON h.id = m.household_id "
                                     "JOIN registry.person p ON p.id = m.person_id ORDER BY p.full_name")
    assert [(r["client_ref"], r["full_name"]) for r in rows] == [("H1", "Habib"), ("H2", "Hasina"), ("H1", "Hena")]
    events = await bus_events(nats_url, database_url, {"registry.household.updated.v1"})
    hena = [e for e in events if e.type == "registry.person.registered.v1" and e.data["full_name"] == "Hena"]
    h1 = await fetch(database_url, "SELECT id FROM registry.household WHERE client_ref = 'H1'")
    assert hena[0].data["household_id"] == str(h1[0]["id"])  # the existing household's id, not a new one


async def test_a_record_that_collides_outside_the_file_is_a_conflict_not_a_500(client, database_url):
    conn = await asyncpg.connect(database_url)
    try:  # a person registered elsewhere (an offline sync) with the client_ref the sheet's row would get
        await conn.execute("INSERT INTO registry.person (id, client_ref, area_code, full_name, name_key, sex, "
                           "created_by, updated_by) VALUES (gen_random_uuid(), 'Z:1', $1, 'Zara', 'zr', 'female', "
                           "'sync', 'sync')", WARD)
    finally:
        await conn.close()
    r = await upload(client, sheet([person_row("Z", 1, "head", "Zara", "female"),
                                    person_row("Y", 1, "head", "Yusuf", "male")]))
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert "Z:1" in r.json()["detail"]
    assert not await fetch(database_url, "SELECT 1 FROM registry.person WHERE full_name = 'Yusuf'")


async def test_a_worker_that_died_costs_one_503_and_the_next_import_works(client, database_url, monkeypatch):
    import os
    import signal

    from services.registry.service import imports_pool

    for key, value in WORKER_MODES["worker-processes"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GRAMSETU_REGISTRY_IMPORT_CHUNK_ROWS", "2")
    first = [person_row("K1", 1, "head", "Kamal", "male"), person_row("K1", 2, "spouse", "Kona", "female")]
    assert (await upload(client, sheet(first))).status_code == 201
    for pid in imports_pool.worker_pids():  # the pool is kept for the next import: kill its processes
        os.kill(pid, signal.SIGKILL)
    second = sheet([person_row("K2", 1, "head", "Kabir", "male"), person_row("K2", 2, "child", "Kobi", "male")])
    r = await upload(client, second)
    if r.status_code == 503:  # the dead pool was noticed only by this import: nothing of it was written
        assert r.headers["content-type"] == "application/problem+json" and "Retry-After" in r.headers
        assert not await fetch(database_url, "SELECT 1 FROM registry.person WHERE full_name LIKE 'K_b%'")
        r = await upload(client, second)
    assert r.status_code == 201, r.text
    assert r.json()["persons_created"] == 2
