"""Batch mode: the whole registry matched at once (``gramsetu registry match-registry``).

Reads every active person (and the keyed hashes of their live identifiers), learns m/u by EM on
them, stores the model (it then scores every new or edited record), and queues each pair at or above
the threshold that is not already queued or dismissed, with the same details and events as the
incremental check.  Run it after a large import and whenever the population has changed a lot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.repository.duplicates import DuplicateRepository
from services.registry.repository.matching import MatchingRepository
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD, learn, match, unpack
from services.registry.rules.matching.table import TableBuilder
from services.registry.service import duplicates_detect
from services.registry.service.matching.incremental import FLAGGED, record, scored
from services.registry.service.matching.models import MIN_RECORDS_FOR_EM, current_model, save_model

Step = Callable[[str, int, int | None], None]


@dataclass
class BatchOutcome:
    persons: int
    comparisons: int
    per_rule: dict[str, int]
    above_threshold: int
    queued: int
    seconds: dict[str, float]


async def match_registry(session: AsyncSession, *, threshold: float = DEFAULT_THRESHOLD,
                         step: Step | None = None) -> BatchOutcome:
    repo = MatchingRepository(session)
    builder = TableBuilder()
    people: list[Mapping[str, Any]] = []
    async for chunk in repo.active_persons():
        idents: dict[Any, list[Mapping[Any, Any]]] = {}
        for ident in await repo.live_identifiers([p["id"] for p in chunk]):
            idents.setdefault(ident["person_id"], []).append(ident)
        for person in chunk:
            builder.add(*record(person, idents.get(person["id"], [])))
            people.append({"id": person["id"], "area_code": person["area_code"]})
        if step:
            step("reading", len(people), None)
    table = builder.build()
    current = await current_model(session)
    learned = len(table) >= MIN_RECORDS_FOR_EM
    model = learn(table) if learned else current
    model.calibration = current.calibration  # reviewers' decisions still hold for the new m and u
    result = match(table, threshold=threshold, model=model,
                   progress=(lambda d, t: step("comparing", d, t)) if step else None)
    if learned:
        await save_model(session, result.model, source="registry batch", records=len(table),
                         comparisons=result.blocked.comparisons)
    keep = np.nonzero(result.above(threshold))[0]
    queued = await _queue(session, result, keep, people, step)
    return BatchOutcome(len(table), result.blocked.comparisons, result.blocked.per_rule, len(keep), queued,
                        result.seconds)


async def _queue(session: AsyncSession, result: Any, keep: np.ndarray, people: list[Mapping[str, Any]],
                 step: Step | None) -> int:
    duplicates = DuplicateRepository(session)
    queued = 0
    for done, k in enumerate(keep, 1):
        a, b = people[int(result.blocked.left[k])], people[int(result.blocked.right[k])]
        first, second = sorted((a["id"], b["id"]))
        if not await duplicates.known(first, second):
            levels = unpack(result.patterns[k : k + 1].astype(np.int64))[0]
            new = await duplicates_detect.flag(session, a, b, "probable_match", {},
                                               scored(result.model, b, float(result.probability[k]), levels))
            FLAGGED.labels("batch").inc(new)
            queued += new
        if step and done % 1000 == 0:
            step("queueing", done, len(keep))
    return queued
