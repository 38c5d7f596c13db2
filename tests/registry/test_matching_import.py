"""A bulk import's duplicates are found by the matcher, as if each person had been registered alone:
the same pair, the same probability and fields, the same event, whether the import flags inline
(small) or in its job (large), and a dismissed pair is not queued again by a later import."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from kernel.db import make_engine, make_sessionmaker, session_settings, transaction
from kernel.settings import Settings
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD
from tests.conftest import start_service
from tests.registry.conftest import (
    AREAS,
    OTHER_WARD,
    PURPOSE,
    UNION,
    create_household,
    household,
    member,
    volunteer,
)
from tests.registry.test_imports import person_row, sheet, upload
from tests.registry.test_imports_index import run_jobs

LINKED = "registry.person.duplicate_linked.v1"


@pytest.fixture(params=["inline", "job"])
async def importing(request: Any, clean: None, settings: Settings, admin_headers: dict[str, str],
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The registry without workers; an import flags inline, or defers to its jobs (run by the test)."""
    from services.registry.app import create_app

    monkeypatch.setenv("GRAMSETU_REGISTRY_IMPORT_DEFER_INDEX_ROWS", "1" if request.param == "job" else "100000")
    async for client in start_service(create_app, settings, workers=False):
        for code in AREAS:
            r = await client.post("/areas", json={"code": code, "name": code}, headers=admin_headers)
            assert r.status_code in (201, 409), r.text
        yield client, request.param


async def _queue(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await client.get("/duplicates", headers=volunteer(UNION) | PURPOSE)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _import_rokeya(client: httpx.AsyncClient, mode: str, database_url: str, ref: str) -> dict[str, Any]:
    rows = [person_row(ref, 1, "head", "Mst. Rokeya Bibi", "female", area=OTHER_WARD, birth_date="1984-02-11",
                       father_name="Abdul Karim", phone="+8801712345678"),
            person_row(ref, 2, "son", "Md. Karim Mia", "male", area=OTHER_WARD, birth_date="2004-05-01")]
    r = await upload(client, sheet(rows), area=OTHER_WARD)
    assert r.status_code == 201, r.text
    if mode == "job":
        assert r.json()["search_index"] == "pending"
        await run_jobs(database_url)
    return dict(r.json())


async def test_an_imported_duplicate_is_queued_as_the_incremental_check_would(importing, database_url):
    client, mode = importing
    first = await create_household(client, household(members=[
        member("রোকেয়া বেগম", "female", "head", birth_date="1984-02-11", father_name="আব্দুল করিম",
               phones=["01712345678"])]))
    job = await _import_rokeya(client, mode, database_url, "IMP-1")
    items = [i for i in await _queue(client) if i["reason"] == "probable_match"]
    assert len(items) == 1, items
    pair = items[0]
    mine = first["members"][0]["id"]
    assert mine in (pair["person_a"]["id"], pair["person_b"]["id"])
    details = pair["details"]
    assert details["match_probability"] >= DEFAULT_THRESHOLD
    fields = {f["field"]: f["level"] for f in details["fields"]}
    assert fields["birth"] == "same date" and fields["phone"] == "same" and fields["area"] == "sibling area"
    # The same pair scored by the incremental path: the same probability and fields.
    from services.registry.repository.persons import PersonRepository
    from services.registry.service.matching.incremental import explain_pair

    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            people = PersonRepository(session)
            a = await people.get_unscoped(pair["person_a"]["id"])
            b = await people.get_unscoped(pair["person_b"]["id"])
            scored = await explain_pair(session, a, b)
    finally:
        await engine.dispose()
    assert round(scored.probability, 6) == details["match_probability"] and scored.fields == details["fields"]
    conn = await asyncpg.connect(database_url)  # no relay runs here: the event is in the outbox
    try:
        linked = [json.loads(r["payload"])["data"] for r in await conn.fetch(
            "SELECT payload FROM registry.outbox WHERE subject = $1", LINKED)]
    finally:
        await conn.close()
    assert [e["candidate_id"] for e in linked] == [pair["id"]] and linked[0]["status"] == "suspected"
    report = (await client.get(f"/imports/{job['id']}", headers=volunteer(OTHER_WARD))).json()["job"]
    assert report["duplicates_flagged"] >= 1


async def test_a_dismissed_pair_is_not_queued_again_by_a_later_import(importing, database_url):
    client, mode = importing
    await create_household(client, household(members=[
        member("রোকেয়া বেগম", "female", "head", birth_date="1984-02-11", father_name="আব্দুল করিম",
               phones=["01712345678"])]))
    await _import_rokeya(client, mode, database_url, "IMP-2")
    pair = next(i for i in await _queue(client) if i["reason"] == "probable_match")
    r = await client.post(f"/duplicates/{pair['id']}/dismiss", json={"note": "two women, checked"},
                          headers=volunteer(UNION))
    assert r.status_code == 200, r.text
    # The same sheet again: its rows are the persons already imported (no new person), and a rerun of
    # the matcher over the first import's persons finds the dismissed pair and leaves it out.
    conn = await asyncpg.connect(database_url)
    try:
        job = await conn.fetchrow("SELECT id FROM registry.import_job ORDER BY created_at LIMIT 1")
        ids = await conn.fetchrow("SELECT min(id::text)::uuid AS first, max(id::text)::uuid AS last "
                                  "FROM registry.person WHERE import_id = $1", job["id"])
    finally:
        await conn.close()
    from sqlalchemy import text

    from services.registry.service.matching.imported import flag_import

    engine = make_engine(database_url, pool_size=1, max_overflow=0, server_settings=session_settings(
        statement_timeout=30.0))  # as the scheduler's connections are set
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            assert await flag_import(session, job["id"], ids["first"], ids["last"]) == 0
            # A pass over a large union computes for minutes between statements: the 60 s guard is lifted.
            assert await session.scalar(text("SHOW idle_in_transaction_session_timeout")) == "15min"
            assert await session.scalar(text("SHOW statement_timeout")) == "0"
    finally:
        await engine.dispose()
    assert [i for i in await _queue(client) if i["reason"] == "probable_match"] == []
