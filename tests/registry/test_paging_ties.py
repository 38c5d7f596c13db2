"""Paging through a list whose sort key ties (one import writes many flags with one created_at)."""

from __future__ import annotations

import itertools

import asyncpg

from tests.registry.conftest import PURPOSE, WARD, create_household, household, member, volunteer


async def test_duplicates_queue_pages_through_ties_without_skip_or_repeat(client, database_url):
    members = [member(f"Person {i}", "female" if i % 2 else "male", "head" if i == 0 else "child") for i in range(24)]
    out = await create_household(client, household(members=members))
    ids = sorted(m["id"] for m in out["members"])
    conn = await asyncpg.connect(database_url)
    try:  # 276 pairs flagged in one statement: every created_at is the same
        await conn.execute("DELETE FROM registry.duplicate_candidate")
        await conn.executemany(
            "INSERT INTO registry.duplicate_candidate (id, person_a, person_b, reason, area_code, created_at) "
            "VALUES (gen_random_uuid(), $1::uuid, $2::uuid, 'same_name_parents_birth_year', $3, "
            "'2026-01-01T00:00:00Z')",
            [(a, b, WARD) for a, b in itertools.combinations(ids, 2)],
        )
        expected = await conn.fetchval("SELECT count(*) FROM registry.duplicate_candidate")
    finally:
        await conn.close()
    seen: list[str] = []
    for offset in range(0, expected + 40, 40):
        r = await client.get("/duplicates", params={"limit": 40, "offset": offset}, headers=volunteer() | PURPOSE)
        assert r.status_code == 200, r.text
        seen += [item["id"] for item in r.json()["items"]]
    assert len(seen) == len(set(seen)) == expected == 276
