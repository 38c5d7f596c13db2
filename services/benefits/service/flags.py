"""The review queue: decide flags (confirm: a recovery entry; dismiss: a reason), and the sweep that
finds double dipping after the fact, when the registry links or merges records that each had a grant.

Decisions are audited (``audit_event``) and published (``benefits.flag.decided.v1``).  The sweep
judges each pair under the rule version the later entry was posted under, so a rule change never
re-decides old entries; it only adds flags that were not there, never removes one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.benefits import FlagDecided
from kernel import roles
from kernel.auth import Identity
from kernel.errors import Conflict, NotFound
from kernel.outbox import add_event, add_events
from kernel.scheduler import Job
from services.benefits import SERVICE
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.repository.flags import FlagRepository
from services.benefits.repository.ledger import LedgerRepository
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.rules.exclusivity import Candidate, Exclusivity, Grant, conflicts
from services.benefits.service.common import audit
from services.benefits.service.metrics import FLAGS_DECIDED, FLAGS_OPEN, FLAGS_RAISED
from services.benefits.service.posting import flag_raised_event
from services.benefits.service.reversals import write_undo
from services.benefits.settings import get_benefits_settings


async def visible_flag(session: AsyncSession, identity: Identity, flag_id: uuid.UUID, *, lock: bool = False
                       ) -> RowMapping:
    repo = FlagRepository(session)
    row = await (repo.flag_for_update(flag_id) if lock else repo.get(flag_id))
    if row is None or not identity.can_access_area(row["area_code"]):
        raise NotFound("No such flag in your area.")
    return row


async def decide(session: AsyncSession, identity: Identity, flag_id: uuid.UUID,
                 decision: Literal["confirm", "dismiss"], reason: str, now: datetime) -> RowMapping:
    row = await visible_flag(session, identity, flag_id, lock=True)
    roles.require(identity, "benefits:review", row["area_code"])
    if row["status"] != "open":
        raise Conflict(f"This flag was already {row['status']}.", errors=[{"field": "flag_id", "reason": "decided"}])
    recovery_id = None
    if decision == "confirm":
        recovery_id = await _recover(session, identity, row, reason, now)
    status = "confirmed" if decision == "confirm" else "dismissed"
    decided = await FlagRepository(session).decide(flag_id, {
        "status": status, "decided_by": identity.subject, "reason": reason, "recovery_entry_id": recovery_id})
    await audit(session, identity, "flag", [flag_id], action=f"flag.{decision}", purpose=reason,
                details={"entry_id": str(row["entry_id"]), "recovery_entry_id": recovery_id})
    await add_event(session, SERVICE, FlagDecided(
        flag_id=flag_id, entry_id=row["entry_id"], decision=status, decided_by=identity.subject, reason=reason,
        recovery_entry_id=recovery_id, area_code=row["area_code"]), source=SERVICE)
    FLAGS_DECIDED.labels(status).inc()
    return decided


async def _recover(session: AsyncSession, identity: Identity, flag_row: RowMapping, reason: str,
                   now: datetime) -> uuid.UUID | None:
    ledger = LedgerRepository(session)
    entry = await ledger.entry_for_update(flag_row["entry_id"])
    assert entry is not None
    undone = (await ledger.undoing([entry["id"]])).get(entry["id"])
    if undone is not None:  # the department reversed it meanwhile: nothing left to recover
        return None
    row = await write_undo(session, identity, entry, kind="recovery", reason=reason, department_ref=None,
                           flag_id=flag_row["id"], now=now)
    return row["id"]  # type: ignore[no-any-return]


async def sweep_cluster(session: AsyncSession, cluster_id: uuid.UUID) -> int:
    """Flag grants of one human (all linked records) that break a rule together; the number of new flags."""
    members = (await ReplicaRepository(session).cluster_members([cluster_id])).get(cluster_id, set())
    return await sweep_persons(session, sorted(members))


async def sweep_persons(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> int:
    if len(person_ids) < 1:
        return 0
    ledger = LedgerRepository(session)
    replica = ReplicaRepository(session)
    persons = await replica.persons(person_ids)
    clusters = {pid: row["cluster_id"] for pid, row in persons.items()}
    grants = await ledger.live_grants_of_persons(person_ids)
    if len(grants) < 2:
        return 0
    versions = await CatalogueRepository(session).rule_versions_for(
        sorted({(g["scheme_code"], g["rule_version"]) for g in grants}))
    already = await FlagRepository(session).existing([g["id"] for g in grants])
    new_flags = _find(grants, clusters, versions, already)
    await FlagRepository(session).insert(new_flags)
    if new_flags:
        await add_events(session, SERVICE, [flag_raised_event(f) for f in new_flags], source=SERVICE)
        FLAGS_RAISED.labels("double_dipping", "sweep").inc(len(new_flags))
    return len(new_flags)


def _find(grants: Sequence[RowMapping], clusters: dict[uuid.UUID, uuid.UUID],
          versions: dict[tuple[str, int], RowMapping], already: set[tuple[uuid.UUID, str]]) -> list[dict[str, Any]]:
    ordered = sorted(grants, key=lambda g: (g["recorded_at"], g["id"]))
    out: list[dict[str, Any]] = []
    for i, later in enumerate(ordered):
        rules = versions.get((later["scheme_code"], later["rule_version"]))
        if rules is None or later["person_id"] is None:
            continue
        cluster = frozenset(p for p, c in clusters.items() if c == clusters.get(later["person_id"]))
        candidate = Candidate(later["scheme_code"], later["beneficiary"], cluster, later["household_id"],
                              later["period_start"], later["period_end"])
        earlier = [Grant(g["id"], g["scheme_code"], g["person_id"], g["household_id"], g["period_start"],
                         g["period_end"]) for g in ordered[:i]]
        for found in conflicts(candidate, Exclusivity.model_validate(rules["exclusivity"]), earlier):
            if (later["id"], found.rule) in already:
                continue
            already.add((later["id"], found.rule))
            out.append({"id": uuid.uuid4(), "entry_id": later["id"], "kind": "double_dipping", "rule": found.rule,
                        "scheme_code": later["scheme_code"], "rule_version": later["rule_version"],
                        "area_code": later["area_code"], "other_entry_ids": list(found.other_entry_ids),
                        "evidence": {"conflicts": [{"rule": found.rule, "other_entry_ids":
                                                    [str(x) for x in found.other_entry_ids]}],
                                     "same_person_records": sorted(str(p) for p in cluster),
                                     "found_by": "sweep after the registry linked or merged records",
                                     "period": later["period"]},
                        "source": "sweep", "raised_at": datetime.now(timezone.utc)})
    return out


async def sweep_cluster_job(session: AsyncSession, job: Job) -> datetime | None:
    await sweep_cluster(session, uuid.UUID(job.payload["cluster_id"]))
    return None


async def sweep_all(session: AsyncSession) -> int:
    """Every cluster of more than one record (new links may have arrived while a cluster sweep failed)."""
    raised = 0
    for cluster_id in await ReplicaRepository(session).multi_record_clusters():
        raised += await sweep_cluster(session, cluster_id)
    FLAGS_OPEN.set(await FlagRepository(session).open_count())
    return raised


async def sweep_all_job(session: AsyncSession, job: Job) -> datetime | None:
    await sweep_all(session)
    return job.due_at + timedelta(seconds=get_benefits_settings().sweep_interval_seconds)
