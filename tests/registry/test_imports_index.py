"""Large imports: names become searchable and duplicates flagged by the index job, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest

from kernel.db import make_engine, make_sessionmaker
from kernel.scheduler import ManualClock, Scheduler
from kernel.settings import Settings
from services.registry import SERVICE
from services.registry.rules.names import name_tokens
from services.registry.service.imports_index import JOBS
from tests.conftest import start_service
from tests.registry.conftest import AREAS, IN_VILLAGE, PURPOSE, WARD, aadhaar, volunteer
from tests.registry.test_imports import person_row, sheet, upload

SEARCH_COUNTS = ("SELECT (SELECT count(*) FROM registry.person_name_token), "
                 "(SELECT count(*) FROM registry.duplicate_candidate), "
                 "(SELECT count(*) FROM registry.scheduled_job WHERE kind LIKE 'registry.import.%')")


def family(ref: str, name: str, number: str, area: str = IN_VILLAGE) -> list[dict[str, Any]]:
    return [person_row(ref, 1, "head", name, "male", area=area, aadhaar=number, birth_date="1980-01-01",
                       father_name="मोहन यादव"),
            person_row(ref, 2, "spouse", "सीता देवी", "female", area=area, birth_date="1985-01-01")]


@pytest.fixture
async def quiet_client(clean: None, settings: Settings, admin_headers: dict[str, str],
                       monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The registry without its workers (the test runs the scheduler), every import deferring its index."""
    from services.registry.app import create_app

    monkeypatch.setenv("GRAMSETU_REGISTRY_IMPORT_DEFER_INDEX_ROWS", "1")
    async for client in start_service(create_app, settings, workers=False):
        for code in AREAS:
            r = await client.post("/areas", json={"code": code, "name": code}, headers=admin_headers)
            assert r.status_code == 201, r.text
        yield client


async def counts(database_url: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(SEARCH_COUNTS)
        return row[0], row[1], row[2]
    finally:
        await conn.close()


async def run_jobs(database_url: str, handlers: dict[str, Any] | None = None) -> int:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        clock = ManualClock(datetime.now(timezone.utc) + timedelta(minutes=1))
        scheduler = Scheduler(service=SERVICE, schema=SERVICE, sessionmaker=make_sessionmaker(engine),
                              handlers=handlers or JOBS, clock=clock)
        ran = 0
        while (batch := await scheduler.run_due()) > 0:  # a job due again at once runs on the next poll
            ran += batch
        return ran
    finally:
        await engine.dispose()


async def search(client: httpx.AsyncClient, name: str) -> int:
    r = await client.get(f"/persons/search?area={IN_VILLAGE}&name={name}", headers=volunteer(IN_VILLAGE) | PURPOSE)
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


async def test_deferred_index_makes_names_searchable_and_flags_duplicates_once(quiet_client, database_url,
                                                                               monkeypatch):
    monkeypatch.setattr("services.registry.service.imports_index.BATCH_PERSONS", 2)  # several batches
    number = aadhaar(41)
    rows = family("IX-1", "राम यादव", number) + family("IX-2", "राम यादव", number)
    r = await upload(quiet_client, sheet(rows), area=IN_VILLAGE)
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["persons_created"], job["search_index"], job["duplicates_flagged"]) == (4, "pending", 0)
    assert job["search_indexed_at"] is None
    # Stored, looked up by identifier, events written; not yet found by name.
    found = await quiet_client.post("/persons/lookup", json={"type": "aadhaar", "value": number},
                                    headers=volunteer(IN_VILLAGE) | PURPOSE)
    assert found.status_code == 200 and len(found.json()["items"]) == 2
    assert await search(quiet_client, "Ram") == 0
    assert await counts(database_url) == (0, 0, 2)  # the analyze and the index job are queued

    assert await run_jobs(database_url) >= 3  # analyze, then the index job in two-person batches

    assert await search(quiet_client, "Ram") == 2 and await search(quiet_client, "सीता") == 2
    report = (await quiet_client.get(f"/imports/{job['id']}", headers=volunteer(IN_VILLAGE))).json()["job"]
    # Same Aadhaar, and same name + father + birth year: two reasons for the same pair; and the matcher's
    # job (after the index): the two Sita Devis, one name, birth date and village, a probable match.
    assert report["search_index"] == "done" and report["search_indexed_at"] is not None
    assert report["duplicates_flagged"] == 3
    tokens, flags, queued = await counts(database_url)
    assert flags == 3 and queued == 0 and tokens > 0
    conn = await asyncpg.connect(database_url)
    try:
        reasons = sorted(r[0] for r in await conn.fetch("SELECT reason FROM registry.duplicate_candidate"))
    finally:
        await conn.close()
    assert reasons == ["probable_match", "same_identifier", "same_name_parents_birth_year"]

    # Running the job again (cursor reset, as after a lost commit) changes nothing.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE registry.import_job SET search_index = 'pending', "
                           "index_next = (SELECT min(id::text)::uuid FROM registry.person) WHERE id = $1", job["id"])
        await conn.execute("INSERT INTO registry.scheduled_job (kind, key, due_at, payload) "
                           "VALUES ('registry.import.index', $1, now(), jsonb_build_object('import_id', $1::text))",
                           job["id"])
    finally:
        await conn.close()
    assert await run_jobs(database_url) >= 1
    assert await counts(database_url) == (tokens, flags, 0)
    again = (await quiet_client.get(f"/imports/{job['id']}", headers=volunteer(IN_VILLAGE))).json()["job"]
    assert again["duplicates_flagged"] == 3 and again["search_index"] == "done"


async def test_name_edited_before_the_job_keeps_its_own_tokens(quiet_client, database_url):
    r = await upload(quiet_client, sheet(family("IX-3", "राम यादव", aadhaar(43))), area=IN_VILLAGE)
    assert r.status_code == 201 and r.json()["search_index"] == "pending", r.text
    conn = await asyncpg.connect(database_url)
    try:  # an edit that wrote its own tokens meanwhile (as persons.update does)
        head = await conn.fetchval("SELECT id FROM registry.person WHERE client_ref = 'IX-3:1'")
        await conn.execute("INSERT INTO registry.person_name_token (person_id, token, area_code) "
                           "SELECT $1, unnest($2::text[]), $3", head, name_tokens("श्याम"), IN_VILLAGE)
    finally:
        await conn.close()
    await run_jobs(database_url)
    assert await search(quiet_client, "Shyam") == 1 and await search(quiet_client, "Ram") == 0
    assert await search(quiet_client, "सीता") == 1


async def test_the_service_worker_finishes_the_index_within_seconds(client, monkeypatch):
    monkeypatch.setenv("GRAMSETU_REGISTRY_IMPORT_DEFER_INDEX_ROWS", "1")
    r = await upload(client, sheet(family("IX-4", "রহিম উদ্দিন", "", area=WARD)), area=WARD)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    for _ in range(200):
        job = (await client.get(f"/imports/{job_id}", headers=volunteer())).json()["job"]
        if job["search_index"] == "done":
            break
        await asyncio.sleep(0.05)
    assert job["search_index"] == "done"
    hits = await client.get(f"/persons/search?area={WARD}&name=Rahim", headers=volunteer() | PURPOSE)
    assert hits.json()["total"] == 1
