"""Reviewers' decisions feed back into the matcher: a recalibration per evidence pattern, versioned.

Every pair the queue holds carries its *pattern* (the levels of all compared fields, packed into one
number) and the model version that scored it.  When a reviewer merges or dismisses a pair, the
``registry.match.recalibrate`` job is scheduled (once, a few seconds later, however many decisions
come meanwhile).  It counts merges and dismissals per pattern over every decided pair, and when the
counts changed it stores the newest model again with those counts as its calibration
(``rules/matching/calibration.py``), under the next version number.  From then on the incremental
check, an import and a batch run score a pair with that pattern with the reviewers' verdicts folded
in: a pattern reviewers dismissed stops reaching the queue, one they merged is queued more readily.
Pairs closed because one of them was merged away in another decision are not counted (nobody judged
them).  Older models stay stored: which version scored a queued pair is in its details.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.scheduler import Job, JobHandler, schedule
from services.registry import SERVICE
from services.registry.repository.matching import MatchingRepository
from services.registry.rules.matching.calibration import Calibration
from services.registry.rules.matching.compare import FIELDS
from services.registry.rules.matching.engine import pack
from services.registry.service.matching.models import current_model, save_model

RECALIBRATE_JOB = "registry.match.recalibrate"
RECALIBRATE_AFTER = timedelta(seconds=5)  # decisions arriving together fold into one new version
RECALIBRATIONS = Counter("gramsetu_registry_match_recalibrations_total",
                         "New model versions stored from reviewers' decisions")
DECISIONS = Counter("gramsetu_registry_match_decisions_total", "Reviewers' decisions on queued pairs",
                    ["decision"])


async def decided(session: AsyncSession, decision: str) -> None:
    """A reviewer merged or dismissed a pair: recalibrate soon (in the decision's transaction)."""
    DECISIONS.labels(decision).inc()
    await schedule(session, SERVICE, kind=RECALIBRATE_JOB, key="reviewer-decisions",
                   due_at=datetime.now(timezone.utc) + RECALIBRATE_AFTER, replace=False)


def pattern_of(details: dict[str, Any]) -> int | None:
    """The pair's pattern, rebuilt from its fields' level names, which outlive a change of the packing
    (session 8 added the household field and a guardian level: a number stored before then packs other
    place values); the stored number only when the fields are missing."""
    fields = details.get("fields")
    if not isinstance(fields, list) or not fields:
        return int(details["pattern"]) if isinstance(details.get("pattern"), int) else None
    levels = [0] * len(FIELDS)
    by_name = {f.name: (k, f.levels) for k, f in enumerate(FIELDS)}
    for item in fields:
        known = by_name.get(str(item.get("field")))
        if known is None or item.get("level") not in known[1]:
            return None  # a level this version no longer has: the decision cannot be placed
        levels[known[0]] = known[1].index(item["level"]) + 1
    return int(pack(np.asarray([levels], dtype=np.uint8))[0])


async def counts(session: AsyncSession) -> dict[int, tuple[int, int]]:
    tally: dict[int, list[int]] = {}
    for row in await MatchingRepository(session).decisions():
        pattern = pattern_of(dict(row["details"] or {}))
        if pattern is not None:
            tally.setdefault(pattern, [0, 0])[0 if row["status"] == "merged" else 1] += 1
    return {k: (v[0], v[1]) for k, v in tally.items()}


async def recalibrate(session: AsyncSession) -> int | None:
    """Store a new model version when the decisions changed since the newest one; its version, or None."""
    await MatchingRepository(session).lock_models()  # two workers: the second sees the first's version
    model = await current_model(session)
    found = await counts(session)
    previous = model.calibration or Calibration()
    if found == previous.decisions:
        return None
    model.calibration = Calibration(previous.version + 1, found)
    version = await save_model(session, model, source="reviewer decisions", records=0, comparisons=0)
    RECALIBRATIONS.inc()
    return version


async def _run_recalibrate(session: AsyncSession, job: Job) -> None:
    await recalibrate(session)


JOBS: dict[str, JobHandler] = {RECALIBRATE_JOB: _run_recalibrate}
