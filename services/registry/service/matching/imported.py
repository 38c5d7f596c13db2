"""The matcher on a bulk import: the import's persons are checked like any registration, as a set.

A registration written through the API is checked at once (``incremental``); an import of thousands of
rows is checked after its rows landed, in one pass per union (gram panchayat) it touched: the union's
active persons, and whoever shares an identifier hash or a phone with the import's persons there,
form one table; the batch run's blocking proposes the pairs, and each pair with at least one imported
person is scored by the same ``Scorer`` and stored model as the incremental check and the batch run.
A pair at or above the operating threshold that is not already queued (under any reason) and was
never dismissed joins the queue as ``probable_match`` with the fields and weights, and is announced
as ``registry.person.duplicate_linked.v1`` (``suspected``): the same decision, details and event as
when the person was registered one at a time.

Small imports do this inline, before they commit; a large one in the ``registry.import.match`` job,
which the search-index job schedules when it completes (after the identifier rules, so a pair they
queued is not queued twice).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, schedule
from services.registry import SERVICE
from services.registry.repository.matching import ImportMatchingRepository
from services.registry.rules.matching.blocking import block
from services.registry.rules.matching.engine import CHUNK, DEFAULT_THRESHOLD, Scorer
from services.registry.rules.matching.table import TableBuilder
from services.registry.service import events
from services.registry.service.duplicates_detect import suspected_link
from services.registry.service.matching.incremental import FLAGGED, record, scored
from services.registry.service.matching.models import current_model

MATCH_JOB = "registry.import.match"
IMPORT_MATCH_SECONDS = Histogram(
    "gramsetu_registry_import_match_seconds", "The matcher's pass over one import (all the unions it touched)",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


async def schedule_match(session: AsyncSession, job_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID) -> None:
    await schedule(session, SERVICE, kind=MATCH_JOB, key=str(job_id), due_at=datetime.now(timezone.utc),
                   payload={"import_id": str(job_id), "first": str(first), "last": str(last)}, replace=False)


async def run_match_job(session: AsyncSession, job: Job) -> None:
    p = job.payload
    await flag_import(session, uuid.UUID(p["import_id"]), uuid.UUID(p["first"]), uuid.UUID(p["last"]))


async def flag_import(session: AsyncSession, job_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID,
                      threshold: float = DEFAULT_THRESHOLD) -> int:
    """Queue the import's probable matches; the number queued (also added to the job's count)."""
    started = time.monotonic()
    repo = ImportMatchingRepository(session)
    await repo.long_pass()
    model = await current_model(session)
    flagged = 0
    for union in await repo.unions(job_id, first, last):
        people = await repo.near(job_id, first, last, union)
        if len(people) > 1:
            flagged += await _flag_union(session, repo, model, job_id, people, threshold)
    await repo.add_flagged(job_id, flagged)
    FLAGGED.labels("import").inc(flagged)
    IMPORT_MATCH_SECONDS.observe(time.monotonic() - started)
    return flagged


async def _flag_union(session: AsyncSession, repo: ImportMatchingRepository, model: Any, job_id: uuid.UUID,
                      people: Sequence[Mapping[str, Any]], threshold: float) -> int:
    idents: dict[Any, list[Mapping[str, Any]]] = {}
    for ident in await repo.identifiers([p["id"] for p in people]):
        idents.setdefault(ident["person_id"], []).append(ident)
    builder = TableBuilder()
    for person in people:
        builder.add(*record(person, idents.get(person["id"], [])))
    table = builder.build()
    blocked = block(table)
    imported = np.fromiter((p["import_id"] == job_id for p in people), dtype=bool, count=len(people))
    mine = imported[blocked.left] | imported[blocked.right]
    left, right = blocked.left[mine].astype(np.int64), blocked.right[mine].astype(np.int64)
    scorer = Scorer(model, table.vocab.strings)
    found: list[tuple[int, int, float, np.ndarray]] = []
    for start in range(0, len(left), CHUNK):
        lo, hi = left[start:start + CHUNK], right[start:start + CHUNK]
        levels, prob = scorer.score(table, lo, table, hi)
        for k in np.nonzero(prob >= threshold)[0]:
            found.append((int(lo[k]), int(hi[k]), float(prob[k]), levels[k]))
    if not found:
        return 0
    pairs = [tuple(sorted((people[i]["id"], people[j]["id"]))) for i, j, _, _ in found]
    known = await repo.known([a for a, _ in pairs], [b for _, b in pairs])
    new = [(pair, scored(model, people[j], p, lv)) for pair, (_, j, p, lv) in zip(pairs, found, strict=True)
           if pair not in known]
    if not new:
        return 0
    rows = await repo.insert([a for (a, _), _ in new], [b for (_, b), _ in new],
                             [json.dumps(s.details()) for _, s in new])
    by_pair = {pair: s for pair, s in new}
    area = {p["id"]: p["area_code"] for p in people}
    linked = [suspected_link(row["id"], row["person_a"], row["person_b"], area[row["person_a"]],
                             by_pair[(row["person_a"], row["person_b"])]) for row in rows]
    await events.publish_many(session, [e for e in linked if e is not None])
    return len(rows)
