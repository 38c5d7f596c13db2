"""Name search across scripts, priority lists, the age check, statistics, and the duplicates queue."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

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
)

TODAY = date.today()


def born(years_ago: int, days: int = 0) -> str:
    return (TODAY.replace(year=TODAY.year - years_ago) - timedelta(days=days)).isoformat()


async def test_name_search_across_scripts_within_area(client):
    await create_household(client, household(members=[member("মোঃ আব্দুর রহিম", "male", "head")]))
    await create_household(client, household(area=OTHER_WARD, members=[member("Abdur Rahim", "male", "head")]),
                           headers=volunteer(OTHER_WARD))
    for query in ("Rahim", "रहीम", "Md. Abdur Raheem", "রহিম"):
        r = await client.get("/persons/search", params={"area": WARD, "name": query}, headers=volunteer() | PURPOSE)
        assert r.status_code == 200, r.text
        assert [p["full_name"] for p in r.json()["items"]] == ["মোঃ আব্দুর রহিম"], query
    union = volunteer(UNION, subject="union")
    r = await client.get("/persons/search", params={"area": UNION, "name": "rahim"}, headers=union | PURPOSE)
    assert r.json()["total"] == 2
    r = await client.get("/persons/search", params={"area": WARD, "name": "..."}, headers=volunteer() | PURPOSE)
    assert r.status_code == 422


async def test_priority_list_json_and_csv(client):
    await create_household(client, household(members=[
        member("Amena Khatun", "female", "head", birth_date=born(67), phones=["01712345678"]),
        member("Rumi", "female", "child", birth_date=born(3)),
        member("Sumi", "female", "child", birth_date=born(10), disability="hearing"),
    ]))
    await create_household(client, household(members=[
        member("Karim", "male", "head", birth_date=born(40)),
        member("Rina", "female", "spouse", birth_date=born(25), pregnant=True),
        member("Nobody", "male", "child", birth_date=born(8)),
    ]))
    r = await client.get(f"/areas/{WARD}/priority-list", headers=volunteer() | PURPOSE)
    assert r.status_code == 200, r.text
    reasons = {i["full_name"]: set(i["reasons"]) for i in r.json()["items"]}
    assert reasons == {
        "Amena Khatun": {"elderly", "single_woman_head"}, "Rumi": {"under_five"}, "Sumi": {"disability"},
        "Rina": {"pregnant"},
    }
    assert r.json()["counts"]["elderly"] == 1
    amena = next(i for i in r.json()["items"] if i["full_name"] == "Amena Khatun")
    assert amena["phones_masked"] == ["XXXX XXXX 5678"]
    r = await client.get(f"/areas/{WARD}/priority-list", params={"format": "csv", "category": "under_five"},
                         headers=volunteer() | PURPOSE)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["full_name"] for row in rows] == ["Rumi"] and rows[0]["reasons"] == "under_five"
    r = await client.get(f"/areas/{WARD}/priority-list", headers=volunteer(OTHER_WARD) | PURPOSE)
    assert r.status_code == 404


async def test_age_check_answers_without_exposing_the_record(client):
    out = await create_household(client, household(members=[
        member("Karim", "male", "head", birth_date=born(45)),
        member("Sumi", "female", "child", birth_date=born(16), birth_date_source="brn",
               identifiers=[{"type": "bd_brn", "value": brn(int(born(16)[:4]), 77)}]),
        member("Rumi", "female", "child", birth_date=born(19, 10), birth_date_estimated=True),
        member("Tania", "female", "child", birth_date=born(18, 1), birth_date_source="birth_certificate"),
    ]))
    sumi_brn = brn(int(born(16)[:4]), 77)
    r = await client.post("/persons/age-check", json={"identifier": {"type": "bd_brn", "value": sumi_brn}},
                          headers=volunteer() | PURPOSE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] == "no" and body["legal_age"] == 18
    assert body["evidence"][0] == "DOB from brn, exact"
    assert "Sumi" not in r.text and sumi_brn not in r.text and set(body) == {"answer", "legal_age", "evidence",
                                                                           "checked_on"}
    ids = {m["full_name"]: m["id"] for m in out["members"]}
    answers = {}
    for name in ("Rumi", "Tania", "Karim"):
        r = await client.post("/persons/age-check", json={"person_id": ids[name]}, headers=volunteer() | PURPOSE)
        answers[name] = r.json()["answer"]
    assert answers == {"Rumi": "unknown", "Tania": "yes", "Karim": "yes"}
    r = await client.post("/persons/age-check", json={"person_id": ids["Tania"]}, headers=volunteer(OTHER_WARD) | PURPOSE)
    assert r.status_code == 404


async def test_statistics_suppress_small_cells(client):
    members = [member(f"Woman {i}", "female", "head" if i == 0 else "other_relative", birth_date=born(30 + i),
                      identifiers=[{"type": "aadhaar", "value": aadhaar(100 + i)}]) for i in range(6)]
    members.append(member("Old man", "male", "parent", birth_date=born(70)))
    await create_household(client, household(members=members))
    r = await client.get(f"/areas/{WARD}/statistics", headers=volunteer())
    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats["k"] == 5 and stats["population"] == {"value": 7, "suppressed": False}
    assert stats["by_sex_and_age"]["female"]["18-59"] == {"value": 6, "suppressed": False}
    assert stats["by_sex_and_age"]["male"]["60+"] == {"value": None, "suppressed": True}
    assert stats["households"]["suppressed"] is True  # a single household
    assert stats["identifier_coverage"]["aadhaar"]["persons"]["value"] == 6
    # Complementary suppression: no row or column is left with one hidden cell to be derived from totals.
    table = stats["by_sex_and_age"]
    for sex, cols in table.items():
        assert sum(c["suppressed"] for c in cols.values()) != 1, sex
    for band in table["female"]:
        assert sum(table[sex][band]["suppressed"] for sex in table) != 1, band
    r = await client.get(f"/areas/{WARD}/statistics", params={"k": 2}, headers=volunteer())
    assert r.json()["k"] == 5  # a caller cannot lower the threshold


async def test_same_identifier_flags_duplicate_and_merge_keeps_both(client, database_url):
    first = await create_household(client, household(members=[
        member("Karim Mia", "male", "head", birth_date="1980-05-05", phones=["01712345678"],
               identifiers=[{"type": "aadhaar", "value": aadhaar(5)}])]))
    second = await create_household(client, household(members=[
        member("Karim Miah", "male", "head", birth_date="1980-05-05", occupation="farmer",
               identifiers=[{"type": "aadhaar", "value": aadhaar(5)},
                            {"type": "bd_brn", "value": brn(1980, 55)}])]))
    r = await client.get("/duplicates", headers=volunteer() | PURPOSE)
    assert r.status_code == 200 and r.json()["total"] == 1
    cand = r.json()["items"][0]
    assert cand["reason"] == "same_identifier"
    survivor, merged = first["members"][0]["id"], second["members"][0]["id"]
    r = await client.post(f"/duplicates/{cand['id']}/merge", json={"survivor_id": survivor, "note": "same man, ward visit"},
                          headers=volunteer())
    assert r.status_code == 200, r.text
    assert r.json()["identifiers_moved"] == ["bd_brn"] and r.json()["identifiers_kept_on_merged"] == ["aadhaar"]
    person = (await client.get(f"/persons/{survivor}", headers=volunteer() | PURPOSE)).json()
    assert {i["type"] for i in person["identifiers"] if i["ended_at"] is None} == {"aadhaar", "bd_brn"}
    assert person["occupation"] == "farmer"  # filled from the merged record
    away = (await client.get(f"/persons/{merged}", headers=volunteer() | PURPOSE)).json()
    assert away["status"] == "merged" and away["merged_into"] == survivor
    history = (await client.get(f"/persons/{survivor}/history", headers=volunteer() | PURPOSE)).json()["items"]
    assert {"merge.survivor", "merge.merged_away", "create"} <= {h["action"] for h in history}
    r = await client.post(f"/duplicates/{cand['id']}/dismiss", json={"note": "again"}, headers=volunteer())
    assert r.status_code == 409
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT actor, purpose FROM registry.audit_event WHERE action = 'duplicate.merge'")
    finally:
        await conn.close()
    assert tuple(row) == ("volunteer-1", "same man, ward visit")


async def test_reregistration_pattern_is_flagged_and_blocks_a_yes(client):
    await create_household(client, household(members=[
        member("Sumi Akter", "female", "head", birth_date="2011-03-01", father_name="Abdul Karim",
               mother_name="Rahima Begum")]))
    await create_household(client, household(members=[
        member("সুমি আক্তার", "female", "head", birth_date="2008-03-01", father_name="আব্দুল করিম",
               mother_name="রহিমা")]))
    r = await client.get("/duplicates", headers=volunteer() | PURPOSE)
    items = r.json()["items"]
    assert len(items) == 1 and items[0]["reason"] == "same_name_parents_birth_year"
    older = next(p for p in (items[0]["person_a"], items[0]["person_b"]) if p["age"] >= 18)
    r = await client.post("/persons/age-check", json={"person_id": older["id"]}, headers=volunteer() | PURPOSE)
    assert r.json()["answer"] == "unknown" and "re-registration" in " ".join(r.json()["evidence"])
    r = await client.post(f"/duplicates/{items[0]['id']}/dismiss", json={"note": "twins? checked with family"},
                          headers=volunteer())
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    r = await client.post("/persons/age-check", json={"person_id": older["id"]}, headers=volunteer() | PURPOSE)
    assert r.json()["answer"] == "yes"
