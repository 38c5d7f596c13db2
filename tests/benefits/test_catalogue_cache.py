"""Posting keeps the scheme catalogue in process; a change made anywhere (this process's API, another
replica, an operator's SQL) reaches the very next posting."""

from __future__ import annotations

import asyncpg

from tests.benefits.conftest import TODAY, apply, department_client, grant, person_event


async def test_a_catalogue_change_made_outside_this_process_reaches_the_next_posting(catalogue, session_factory,
                                                                                     database_url):
    person, other = person_event(), person_event()
    await apply(session_factory, person, other)
    client = department_client()
    first = await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=client)
    assert first.status_code == 201, first.text  # the catalogue is now cached
    conn = await asyncpg.connect(database_url)  # another replica, or an operator
    try:
        await conn.execute("DELETE FROM benefits.department_poster WHERE department_code = 'BD-DSS'")
        refused = await catalogue.post("/entries", json=grant(person_id=other.person_id), headers=client)
        assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "scheme"
        await conn.execute("INSERT INTO benefits.department_poster (department_code, actor, added_by) "
                           "VALUES ('BD-DSS', 'client-BD-DSS', 'operator')")
        # The scheme closed on the 1st (the service clock is pinned to the 7th): today's delivery is outside it.
        await conn.execute("UPDATE benefits.scheme SET valid_to = $1 WHERE code = 'BD-OAA'", TODAY.replace(day=1))
        closed = await catalogue.post("/entries", json=grant(person_id=other.person_id), headers=client)
        assert closed.status_code == 422 and closed.json()["errors"][0]["field"] == "delivered_on", closed.text
        await conn.execute("UPDATE benefits.scheme SET valid_to = NULL WHERE code = 'BD-OAA'")
        # A rule version written straight into the tables: one grant per month no longer applies.
        await conn.execute("""
            INSERT INTO benefits.rule_version (scheme_code, version, eligibility, exclusivity, policy, created_by)
            SELECT scheme_code, 2, eligibility, '{"per_person": false}', policy, 'operator'
            FROM benefits.rule_version WHERE scheme_code = 'BD-OAA' AND version = 1""")
        await conn.execute("UPDATE benefits.scheme SET current_version = 2 WHERE code = 'BD-OAA'")
        again = await catalogue.post("/entries", json=grant(person_id=person.person_id), headers=client)
        assert again.status_code == 201, again.text
        assert (again.json()["decision"], again.json()["rule_version"]) == ("accepted", 2)
    finally:
        await conn.close()

