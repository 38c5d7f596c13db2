"""Two 17-digit NIDs with one 13-digit form but other year prefixes: a conflict to report, not a match."""

from __future__ import annotations

from tests.registry.conftest import PURPOSE, create_household, household, member, volunteer

NUMBER = "4019876543210"  # the 13-digit form


def nid17(year: int) -> dict[str, str]:
    return {"type": "bd_nid", "value": f"{year}{NUMBER}"}


async def test_other_year_prefix_is_refused_and_never_looked_up_as_the_same_person(client):
    out = await create_household(client, household(members=[member("Rahima", "female", "head",
                                                                    identifiers=[nid17(1985)])]))
    rahima = out["members"][0]["id"]
    second = await create_household(client, household(members=[member("Salma", "female", "head")]))
    salma = second["members"][0]["id"]
    r = await client.post(f"/persons/{salma}/identifiers", json=nid17(1990), headers=volunteer())
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"].endswith("value") and "1985" in r.json()["detail"]
    # The holder herself cannot "add" the other year as if it were the number she has.
    r = await client.post(f"/persons/{rahima}/identifiers", json=nid17(1990), headers=volunteer())
    assert r.status_code == 409
    # Looked up: the 1990 form finds nobody, the 1985 form and the 13-digit form find Rahima.
    lookup = "/persons/lookup"
    r = await client.post(lookup, json=nid17(1990), headers=volunteer() | PURPOSE)
    assert r.status_code == 404
    for query in (nid17(1985), {"type": "bd_nid", "value": NUMBER}):
        r = await client.post(lookup, json=query, headers=volunteer() | PURPOSE)
        assert r.status_code == 200 and [p["id"] for p in r.json()["items"]] == [rahima]
    # The same 17-digit number again is still the same identifier (a no-op, not a conflict).
    r = await client.post(f"/persons/{rahima}/identifiers", json=nid17(1985), headers=volunteer())
    assert r.status_code == 201, r.text


async def test_an_import_reports_the_year_conflict_on_the_pair_it_flags(client, database_url):
    import json

    import asyncpg

    from tests.registry.test_imports import person_row, sheet, upload

    rows = [person_row("N-1", 1, "head", "Rahima Khatun", "female", bd_nid=f"1985{NUMBER}"),
            person_row("N-2", 1, "head", "Salma Khatun", "female", bd_nid=f"1990{NUMBER}"),
            person_row("N-3", 1, "head", "Ayesha Khatun", "female", bd_nid=f"1970{NUMBER[:-1]}9")]
    r = await upload(client, sheet(rows))
    assert r.status_code == 201, r.text
    conn = await asyncpg.connect(database_url)
    try:
        details = [json.loads(r["details"]) for r in await conn.fetch(
            "SELECT details::text AS details FROM registry.duplicate_candidate WHERE reason = 'same_identifier'")]
    finally:
        await conn.close()
    assert details == [{"id_type": "bd_nid", "conflict": "nid17_year_prefix", "year_prefixes": [1985, 1990]}]
