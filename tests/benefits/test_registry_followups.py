"""What later registry events do to the ledger: a death flags grants for periods after it (and later
postings are refused or held), and an entry held for an unknown person is matched when the registry
sends that person, after which it counts for double dipping, coverage and history."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import httpx
import pytest

from contracts.registry import PersonDeceased
from services.benefits.settings import get_benefits_settings
from tests.benefits.conftest import (
    VGF,
    WARD,
    admin,
    apply,
    department_client,
    grant,
    id_hash,
    person_event,
    reviewer,
)
from tests.registry.conftest import AREAS, create_household, household, member, volunteer

NID = "19502698765432101"


async def test_a_death_flags_later_grants_and_refuses_or_holds_new_ones(catalogue, session_factory, database_url):
    person = person_event()
    await apply(session_factory, person)
    december = (await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
                ).json()
    november = await catalogue.post("/entries", json=grant(person_id=person.person_id, period="2026-11"),
                                    headers=department_client())
    assert november.json()["decision"] == "accepted"
    await apply(session_factory, PersonDeceased(person_id=person.person_id, area_code=WARD,
                                                deceased_on=date(2026, 11, 15), version=2))
    flags = (await catalogue.get("/flags?status=open", headers=reviewer())).json()["items"]
    assert [(f["entry_id"], f["kind"], f["rule"], f["source"]) for f in flags] == [
        (december["id"], "deceased_person", "deceased", "sweep")]  # November started before the death
    assert flags[0]["evidence"]["deceased_on"] == "2026-11-15"
    # A later posting for a period after the death: held under OAA's "hold", refused under WIDOW's "reject".
    again = grant(person_id=person.person_id, period="2027-01")
    held = await catalogue.post("/entries", json=again, headers=department_client())
    assert held.status_code == 201 and held.json()["decision"] == "held"
    flag = (await catalogue.get(f"/flags/{held.headers['X-Benefits-Flags']}", headers=reviewer())).json()
    assert (flag["kind"], flag["rule"]) == ("deceased_person", "deceased")
    widow = await catalogue.post("/entries", json=grant("BD-WIDOW", person_id=person.person_id),
                                 headers=department_client())
    assert widow.status_code == 409 and "death" in widow.json()["detail"]
    # The same death event again (redelivery) raises nothing new.
    await apply(session_factory, PersonDeceased(person_id=person.person_id, area_code=WARD,
                                                deceased_on=date(2026, 11, 15), version=2))
    assert (await catalogue.get("/flags?status=open", headers=reviewer())).json()["total"] == 2


async def test_an_entry_held_for_an_unknown_person_is_matched_when_the_registry_sends_them(
        catalogue, session_factory, database_url, monkeypatch):
    monkeypatch.setattr(get_benefits_settings(), "small_cell_threshold", 1)  # one person: show the cell
    unknown = await catalogue.post("/entries", json=grant(identifier={"type": "bd_nid", "value": NID},
                                                          area_code=WARD), headers=department_client())
    assert unknown.status_code == 201 and unknown.json()["decision"] == "held"
    assert unknown.json()["person_id"] is None
    flag_id = unknown.headers["X-Benefits-Flags"]
    person = person_event(nid=NID)
    await apply(session_factory, person)
    flag = (await catalogue.get(f"/flags/{flag_id}", headers=reviewer())).json()
    assert (flag["status"], flag["decided_by"]) == ("matched", "benefits:rematch")
    # The entry itself never changes (its hash still verifies); the match is beside it.
    entry = (await catalogue.get(f"/entries/{unknown.json()['id']}", headers=department_client())).json()
    assert entry["person_id"] is None and entry["hash"] == unknown.json()["hash"]
    conn = await asyncpg.connect(database_url)
    try:
        match = await conn.fetchrow("SELECT person_id, matched_by, flag_id::text FROM benefits.entry_match")
    finally:
        await conn.close()
    assert tuple(match) == (person.person_id, "identifier_hash", flag_id)
    assert person.identifier_hashes == [id_hash("bd_nid", NID)]
    # It now counts as this person's grant: a second one this month is double dipping, and coverage sees it.
    second = await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=department_client())
    assert second.json()["decision"] == "held"
    dip = (await catalogue.get(f"/flags/{second.headers['X-Benefits-Flags']}", headers=reviewer())).json()
    assert dip["rule"] == "per_person" and dip["other_entry_ids"] == [unknown.json()["id"]]
    coverage = (await catalogue.get(f"/persons/{person.person_id}/coverage", headers=department_client())).json()
    oaa = next(s for s in coverage["schemes"] if s["scheme"] == "BD-OAA")
    assert oaa["covered"] is True and unknown.json()["id"] in oaa["entries"]
    area = (await catalogue.get(f"/coverage?area={WARD}&scheme=BD-OAA", headers=admin())).json()
    assert (area["eligible"], area["eligible_covered"]) == (1, 1)
    # Transparency counts one beneficiary for the two entries (the matched one and the second).
    cells = (await catalogue.get(f"/transparency/summary?area={WARD[:-3]}&scheme=BD-OAA", headers=admin())).json()
    assert [(c["beneficiaries"], c["entries"]) for c in cells["rows"]] == [(1, 2)]
    # The person's registration arriving again (an update) matches nothing twice.
    await apply(session_factory, person.model_copy(update={"version": 2}))
    assert (await catalogue.get("/flags?status=matched", headers=reviewer())).json()["total"] == 1
    assert (await catalogue.get("/ledger/verify", headers=admin())).json()["intact"] is True


@pytest.fixture
async def registry(registry_client: httpx.AsyncClient, admin_headers: dict[str, str]) -> httpx.AsyncClient:
    for code in AREAS:
        assert (await registry_client.post("/areas", json={"code": code, "name": code}, headers=admin_headers)
                ).status_code == 201
    return registry_client


async def test_marital_status_and_income_band_travel_from_the_registry_to_eligibility(
        catalogue, registry, database_url):
    """The registry records them, its events carry them (real NATS), benefits' consumer keeps them, and
    rules over them decide: a widow is eligible for the widow allowance, a poor household for VGF-POOR."""
    r = await catalogue.post("/schemes", headers=admin(), json={
        **VGF, "code": "BD-VGF-POOR", "names": {"en": "VGF for poor households"},
        "rules": {"eligibility": {"all": [{"attr": "income_band", "op": "in", "value": ["extreme_poor", "poor"]}]},
                  "exclusivity": {"per_household": True}, "policy": {"on_conflict": "hold", "unknown_person": "reject"}}})
    assert r.status_code == 201, r.text
    created = await create_household(registry, household(income_band="poor", members=[
        member("Rahima Begum", "female", "head", birth_date="1950-03-01", marital_status="widowed"),
        member("Karim", "male", "child", birth_date="1985-01-01", marital_status="married")]))
    head = next(m for m in created["members"] if m["role"] == "head")
    deadline = asyncio.get_running_loop().time() + 60
    while True:  # the registry's relay publishes, benefits' consumers apply
        found = await catalogue.get(f"/households/{created['id']}/coverage", headers=admin())
        if found.status_code == 200 and len(found.json()["members"]) == 2:
            break
        assert asyncio.get_running_loop().time() < deadline, found.text
        await asyncio.sleep(0.2)
    conn = await asyncpg.connect(database_url)
    try:
        copy = await conn.fetchrow("SELECT p.marital_status, h.income_band FROM benefits.person p "
                                   "JOIN benefits.household h ON h.id = p.household_id WHERE p.id = $1", head["id"])
        registry_row = await conn.fetchval("SELECT marital_status FROM registry.person WHERE id = $1", head["id"])
    finally:
        await conn.close()
    assert tuple(copy) == ("widowed", "poor") and registry_row == "widowed"
    mine = (await catalogue.get(f"/persons/{head['id']}/coverage", headers=admin())).json()
    widow = next(s for s in mine["schemes"] if s["scheme"] == "BD-WIDOW")
    assert widow["eligible"] is True and widow["unknown_facts"] == []
    house = found.json()
    poor = next(s for s in house["schemes"] if s["scheme"] == "BD-VGF-POOR")
    assert poor["eligible"] is True and poor["unknown_facts"] == []
    son = next(m for m in house["members"] if m["person_id"] != head["id"])
    assert next(s for s in son["schemes"] if s["scheme"] == "BD-WIDOW")["eligible"] is False
    # A bad value is refused by the registry, naming the field.
    bad = await registry.post("/households", json=household(income_band="Very Poor!"), headers=volunteer())
    assert bad.status_code == 422 and "income_band" in bad.text
