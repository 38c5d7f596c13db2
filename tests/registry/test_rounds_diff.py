"""A round against last year's: households and persons added, closed, moved, deceased; counts by sex
and age band; small cells suppressed.  And the due-date job that flags an overdue round."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx

from kernel.auth import Identity
from kernel.db import transaction
from kernel.scheduler import ManualClock
from services.registry.service import rounds
from tests.conftest import identity_headers, start_service
from tests.registry.conftest import AREAS, WARD, create_household, household, member, officer, volunteer
from tests.registry.test_rounds import ELSEWHERE, act, is_problem, item_for, open_round


async def close(client: httpx.AsyncClient, round_id: str) -> dict[str, Any]:
    r = await client.post(f"/rounds/{round_id}/close", json={}, headers=officer())
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def confirm_pending(client: httpx.AsyncClient, round_id: str) -> None:
    page = (await client.get(f"/rounds/{round_id}/items", params={"status": "pending", "limit": 500},
                             headers=volunteer())).json()
    for item in page["items"]:
        assert (await act(client, round_id, item, "confirm")).status_code == 200


async def exact_diff(client: httpx.AsyncClient, round_id: str) -> Any:
    """The diff with k = 1 (nothing suppressed), straight from the service on the real database."""
    admin = Identity(subject="analyst", kind="user", roles=["admin"], scopes=["*"], area_scope=["BD"])
    async with transaction(client.app.state.sessionmaker) as session:  # type: ignore[attr-defined]
        return await rounds.diff(session, admin, uuid.UUID(round_id), 1)


async def test_diff_against_last_years_round(client):
    await client.post("/areas", json={"code": ELSEWHERE, "name": "Other union"}, headers=identity_headers())
    couple = await create_household(client, household(members=[
        member("Karim", "male", "head", birth_date="1970-01-01"),
        member("Amena", "female", "spouse", birth_date="1975-01-01")]))
    widow = await create_household(client, household(members=[member("Rokeya", "female", "head",
                                                                     birth_date="1950-01-01")]))
    leaving = await create_household(client, household(members=[member("Jamal", "male", "head",
                                                                        birth_date="1990-01-01")]))
    first = await open_round(client, WARD, 2026)
    none_yet = await exact_diff(client, first["id"])
    assert none_yet.previous_round_id is None and none_yet.households_added is None
    await confirm_pending(client, first["id"])
    await close(client, first["id"])

    for i in range(5):  # new families registered during the year
        await create_household(client, household(members=[member(f"Child {i}", "male", "head",
                                                                  birth_date="2008-01-01")]))
    second = await open_round(client, WARD, 2027)
    assert second["households_total"] == 8
    live = await exact_diff(client, second["id"])
    assert live.previous_year == 2026 and live.households_added.value == 5
    await create_household(client, household(members=[member("Found", "female", "head", birth_date="2000-01-01")]))
    assert (await exact_diff(client, second["id"])).households_added.value == 6  # found during the round

    spouse = couple["members"][1]
    rid = second["id"]
    r = await act(client, rid, await item_for(client, rid, couple["id"]), "edit",
                  deaths=[{"person_id": spouse["id"], "deceased_on": "2026-03-01"}])
    assert r.status_code == 200, r.text
    r = await act(client, rid, await item_for(client, rid, widow["id"]), "close", outcome="dissolved",
                  reason="Went to live with her son")
    assert r.status_code == 200
    r = await act(client, rid, await item_for(client, rid, leaving["id"]), "close", outcome="moved",
                  reason="Left for work", destination_area_code=ELSEWHERE)
    assert r.status_code == 200
    await confirm_pending(client, rid)
    cov = (await client.get(f"/rounds/{rid}/coverage", headers=officer())).json()
    assert cov["complete"] and cov["coverage"] == 1.0 and cov["found"] == 0
    await close(client, rid)
    cov = (await client.get(f"/rounds/{rid}/coverage", headers=officer())).json()
    assert cov["found"] == 1 and cov["total"] == 8  # found households are reported beside the total

    diff = await exact_diff(client, rid)
    assert (diff.households_added.value, diff.households_moved.value, diff.households_closed.value) == (6, 1, 1)
    assert (diff.persons_added.value, diff.persons_deceased.value) == (6, 1)
    # Karim, the widow (still living in the ward), the five young men and the woman found: 8; last year 4.
    assert (diff.population.value, diff.households.value) == (8, 7)
    change = diff.change_by_sex_and_age
    assert sum(v for cols in change.values() for v in cols.values() if v is not None) == 8 - 4
    assert change["male"]["18-59"] == 5 - 1  # the five new, minus Jamal who moved away
    assert change["female"]["18-59"] == 1 - 1  # the woman found, minus Amena who died
    assert diff.previous_by_sex_and_age["female"]["60+"].value == 1

    # Published over HTTP, small cells are suppressed (k is at least the registry's threshold of 5).
    r = await client.get(f"/rounds/{rid}/diff", headers=officer())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["k"] == 5 and body["previous_year"] == 2026
    assert body["households_added"] == {"value": 6, "suppressed": False}
    assert body["persons_deceased"] == {"value": None, "suppressed": True}
    assert body["households_moved"]["suppressed"] and body["households_closed"]["suppressed"]
    assert body["by_sex_and_age"]["male"]["18-59"] == {"value": 6, "suppressed": False}
    assert body["change_by_sex_and_age"]["female"]["18-59"] is None  # a suppressed cell has no published change
    assert (await client.get(f"/rounds/{rid}/diff", headers=volunteer())).status_code == 200  # the ward is the area
    assert is_problem(await client.get(f"/rounds/{rid}/diff", params={"k": 1}, headers=officer()), 422)


async def test_diff_needs_the_whole_round_area(client):
    rnd = await open_round(client, "BD-40-87-90-54")
    r = await client.get(f"/rounds/{rnd['id']}/diff", headers=volunteer())
    assert is_problem(r, 403)


async def test_overdue_round_is_flagged_by_the_scheduler(clean, settings, database_url, admin_headers):
    from services.registry.app import create_app

    clock = ManualClock(datetime(2026, 11, 23, tzinfo=timezone.utc))
    async for client in start_service(create_app, settings, clock=clock):
        for code in AREAS:
            assert (await client.post("/areas", json={"code": code, "name": code}, headers=admin_headers)).is_success
        await create_household(client, household(members=[member("Karim", "male", "head")]))
        due = date.today() + timedelta(days=10)
        late = await open_round(client, WARD, 2027, due_on=due.isoformat())
        on_time = await open_round(client, "BD-40-87-90-54-07", 2027, due_on=due.isoformat())
        await close(client, on_time["id"])  # closing cancels its deadline
        scheduler = client.app.state.runtime.scheduler  # type: ignore[attr-defined]
        clock.set(datetime.combine(due, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=12))
        await scheduler.run_due()
        assert (await client.get(f"/rounds/{late['id']}", headers=officer())).json()["overdue_at"] is None
        clock.advance(timedelta(days=1))
        await scheduler.run_due()
        flagged = (await client.get(f"/rounds/{late['id']}", headers=officer())).json()
        assert flagged["overdue_at"] is not None
        assert (await client.get(f"/rounds/{on_time['id']}", headers=officer())).json()["overdue_at"] is None
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT record_id, details FROM registry.audit_event WHERE action = 'round.overdue'")
        jobs = await conn.fetchval("SELECT count(*) FROM registry.scheduled_job WHERE kind = $1", rounds.OVERDUE_JOB)
    finally:
        await conn.close()
    assert [r["record_id"] for r in rows] == [late["id"]] and '"pending": 1' in rows[0]["details"]
    assert jobs == 0
