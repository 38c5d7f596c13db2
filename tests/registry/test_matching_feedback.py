"""Reviewers' decisions feed back into the matcher (issue 13: "a reviewer's merge or dismiss feeds
back"): a dismissed pair's evidence pattern is recalibrated, in a new stored model version, so the
next pair with the same evidence is not queued; merges pull a pattern up; versions are kept."""

from __future__ import annotations

from typing import Any

import asyncpg
import numpy as np

from kernel.db import make_engine, make_sessionmaker, transaction
from services.registry.rules.matching.calibration import STRENGTH, Calibration
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD
from services.registry.service.matching.feedback import JOBS
from tests.registry.conftest import PURPOSE, create_household, household, member, volunteer
from tests.registry.test_imports_index import run_jobs


def nazma(name: str, day: str) -> dict[str, Any]:
    # Same name, ward and estimated birth year, nothing else: the model alone calls them one woman.
    return household(members=[member(name, "female", "head", birth_date=f"1984-{day}",
                                     birth_date_estimated=True)])


async def queue(client: Any) -> list[dict[str, Any]]:
    r = await client.get("/duplicates?status=open", headers=volunteer() | PURPOSE)
    assert r.status_code == 200, r.text
    return [i for i in r.json()["items"] if i["reason"] == "probable_match"]


async def run_recalibration(database_url: str) -> None:
    await run_jobs(database_url, JOBS)


async def models(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        import json

        return [{"source": r["source"], **json.loads(r["model"])} for r in await conn.fetch(
            "SELECT source, model FROM registry.match_model ORDER BY created_at, id")]
    finally:
        await conn.close()


async def score_with(database_url: str, person_id: str, other_id: str, *, packaged: bool) -> float:
    from services.registry.repository.persons import PersonRepository
    from services.registry.service.matching.incremental import score
    from services.registry.service.matching.models import current_model, default_model

    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            people = PersonRepository(session)
            a, b = await people.get_unscoped(person_id), await people.get_unscoped(other_id)
            model = default_model() if packaged else await current_model(session)
            return score(model, a, [b], {})[0].probability
    finally:
        await engine.dispose()


async def test_a_dismissal_keeps_the_next_pair_with_the_same_evidence_out_of_the_queue(client, database_url):
    one = (await create_household(client, nazma("Nazma Akter", "03-01")))["members"][0]["id"]
    await create_household(client, nazma("Nazma Akter", "08-15"))
    [pair] = await queue(client)
    assert pair["details"]["model_version"] == 0 and isinstance(pair["details"]["pattern"], int)
    r = await client.post(f"/duplicates/{pair['id']}/dismiss", json={"note": "two women, asked the ward member"},
                          headers=volunteer())
    assert r.status_code == 200, r.text

    await run_recalibration(database_url)
    stored = await models(database_url)
    assert [m["source"] for m in stored] == ["reviewer decisions"] and stored[0]["version"] == 1
    assert stored[0]["calibration"] == {"version": 1, "decisions": {str(pair["details"]["pattern"]): [0, 1]}}

    third = (await create_household(client, nazma("Nazma Akter", "11-30")))["members"][0]["id"]
    assert await queue(client) == [], "the same evidence as the dismissed pair: not queued again"
    # What changed it is the decision: the packaged model alone still calls the new pair one woman.
    assert await score_with(database_url, third, one, packaged=True) >= DEFAULT_THRESHOLD
    assert await score_with(database_url, third, one, packaged=False) < DEFAULT_THRESHOLD

    # Nothing new decided: no new version.
    await run_recalibration(database_url)
    assert len(await models(database_url)) == 1


async def test_every_recalibration_is_a_new_version_and_older_ones_are_kept(client, database_url):
    await create_household(client, nazma("Nazma Akter", "03-01"))
    await create_household(client, nazma("Nazma Akter", "08-15"))
    [pair] = await queue(client)
    r = await client.post(f"/duplicates/{pair['id']}/merge",
                          json={"survivor_id": pair["person_a"]["id"], "note": "same woman, same house"},
                          headers=volunteer())
    assert r.status_code == 200, r.text
    await run_recalibration(database_url)
    await create_household(client, nazma("Nazma Akter", "05-05"))
    await create_household(client, nazma("Nazma Akter", "06-06"))
    pairs = await queue(client)
    assert pairs and all(p["details"]["model_version"] == 1 for p in pairs)  # scored by the recalibrated model
    r = await client.post(f"/duplicates/{pairs[0]['id']}/dismiss", json={"note": "sisters-in-law"},
                          headers=volunteer())
    assert r.status_code == 200, r.text
    await run_recalibration(database_url)
    versions = [(m["version"], m["calibration"]["decisions"]) for m in await models(database_url)]
    pattern = str(pair["details"]["pattern"])
    assert versions[0] == (1, {pattern: [1, 0]})
    assert versions[1][0] == 2 and versions[1][1][pattern][0] == 1


def test_merges_raise_and_dismissals_lower_a_pattern_by_the_reviewers_share():
    patterns = np.asarray([7, 8, 9], dtype=np.int64)
    p = np.asarray([0.5, 0.95, 0.95])
    calibration = Calibration(1, {7: (9, 0), 8: (0, 1), 9: (7, 3)})
    after = 1 / (1 + 2 ** -(np.log2(p / (1 - p)) + calibration.delta(patterns, p)))
    assert abs(after[0] - (9 + STRENGTH * 0.5) / (9 + STRENGTH)) < 1e-9 and after[0] > DEFAULT_THRESHOLD > p[0]
    assert after[1] < DEFAULT_THRESHOLD  # one dismissal of a pattern nobody merged
    assert after[2] > DEFAULT_THRESHOLD  # seven merges in ten: the threshold's promise kept
    assert calibration.delta(np.asarray([10]), np.asarray([0.95]))[0] == 0.0  # undecided patterns unchanged
