"""Apply the registry's events to the local copy (each event once, through the kernel's inbox).

Persons and households carry a version: an older or replayed event never overwrites a newer one.
Merges and duplicate links join records into one *cluster* (one human); the cluster id is the
smallest record id in it, recomputed from the active links whenever one is added or dismissed,
and a change schedules a sweep of that cluster's ledger for double dipping that the link reveals.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from contracts.benefits import FlagDecided
from contracts.registry import (
    HouseholdCreated,
    HouseholdMoved,
    HouseholdUpdated,
    PersonDeceased,
    PersonDuplicateDismissed,
    PersonDuplicateLinked,
    PersonMerged,
    PersonRegistered,
    PersonUpdated,
)
from kernel.outbox import add_events
from kernel.scheduler import schedule
from services.benefits import SERVICE
from services.benefits.repository.flags import FlagRepository
from services.benefits.repository.ledger import LedgerRepository
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.service.metrics import FLAGS_DECIDED, FLAGS_RAISED, REGISTRY_COPY_LAST_EVENT
from services.benefits.service.posting import flag_raised_event

REMATCH_ACTOR = "benefits:rematch"

SWEEP_CLUSTER = "benefits.sweep-cluster"


async def apply_person(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonRegistered | PersonUpdated)
    repo = ReplicaRepository(session)
    applied = await repo.upsert_person({
        "id": event.person_id, "household_id": event.household_id, "area_code": event.area_code,
        "full_name": event.full_name, "sex": event.sex, "birth_date": event.birth_date,
        "birth_year": event.birth_year, "disability": event.disability, "pregnant": event.pregnant,
        "marital_status": event.marital_status, "status": event.status, "version": event.version,
    })
    if applied:
        await repo.replace_hashes(event.person_id, event.identifier_hashes)
        await rematch(session, event.person_id, event.household_id, event.identifier_hashes, envelope.occurred_at)
    await _touch(repo, envelope)


async def rematch(session: AsyncSession, person_id: uuid.UUID, household_id: uuid.UUID | None,
                  hashes: list[str], at: datetime) -> int:
    """Entries held because the registry copy did not know their person, now that it does: each is
    matched to the person (``entry_match``; the ledger row never changes), its unknown-person flag is
    settled as ``matched`` (published like a decision), and the person's human is swept for double
    dipping the match reveals.  The number of entries matched."""
    flags = FlagRepository(session)
    found = await flags.open_unknown_for(person_id, hashes)
    if not found:
        return 0
    await flags.add_matches([{"entry_id": f["entry_id"], "person_id": person_id, "household_id": household_id,
                              "flag_id": f["id"], "matched_at": at,
                              "matched_by": "person_id" if f["posted_person_id"] else "identifier_hash"}
                             for f in found])
    reason = "the registry sent the person this entry was posted for"
    await flags.settle([f["id"] for f in found], {"status": "matched", "decided_by": REMATCH_ACTOR,
                                                  "decided_at": at, "reason": reason})
    await add_events(session, SERVICE, [FlagDecided(
        flag_id=f["id"], entry_id=f["entry_id"], decision="matched", decided_by=REMATCH_ACTOR, reason=reason,
        recovery_entry_id=None, area_code=f["area_code"]) for f in found], source=SERVICE)
    FLAGS_DECIDED.labels("matched").inc(len(found))
    cluster = (await ReplicaRepository(session).persons([person_id]))[person_id]["cluster_id"]
    await schedule(session, SERVICE, kind=SWEEP_CLUSTER, key=str(cluster), due_at=at,
                   payload={"cluster_id": str(cluster)})
    return len(found)


async def apply_deceased(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    """The person died: grants to them for periods that start after the death are flagged for review
    (a later posting for such a period is refused or held by the scheme's policy)."""
    assert isinstance(event, PersonDeceased)
    repo = ReplicaRepository(session)
    await repo.set_person_status(event.person_id, "deceased", event.version, deceased_on=event.deceased_on)
    await flag_after_death(session, event.person_id, event.deceased_on, envelope.occurred_at)
    await _touch(repo, envelope)


async def flag_after_death(session: AsyncSession, person_id: uuid.UUID, deceased_on: date, at: datetime) -> int:
    grants = [g for g in await LedgerRepository(session).live_grants_of_persons([person_id])
              if g["period_start"] > deceased_on]
    flags = FlagRepository(session)
    already = await flags.existing([g["id"] for g in grants])
    new = [{"id": uuid.uuid4(), "entry_id": g["id"], "kind": "deceased_person", "rule": "deceased",
            "scheme_code": g["scheme_code"], "rule_version": g["rule_version"], "area_code": g["area_code"],
            "other_entry_ids": [], "source": "sweep", "raised_at": at,
            "evidence": {"deceased_on": deceased_on.isoformat(), "period": g["period"],
                         "period_start": g["period_start"].isoformat(),
                         "found_by": "the registry recorded the death after the grant"}}
           for g in grants if (g["id"], "deceased") not in already]
    await flags.insert(new)
    if new:
        await add_events(session, SERVICE, [flag_raised_event(f) for f in new], source=SERVICE)
        FLAGS_RAISED.labels("deceased_person", "sweep").inc(len(new))
    return len(new)


async def apply_merged(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonMerged)
    repo = ReplicaRepository(session)
    for pid in (event.survivor_id, event.merged_id):
        await repo.ensure_person_stub(pid, event.area_code)
    await repo.set_person_status(event.merged_id, "merged", None, merged_into=event.survivor_id)
    await repo.put_link({"id": f"merge:{event.merged_id}", "kind": "merge", "person_id": event.survivor_id,
                         "other_person_id": event.merged_id, "status": "merged", "active": True})
    await recluster(session, [event.survivor_id, event.merged_id], envelope.occurred_at)
    await _touch(repo, envelope)


async def apply_duplicate_linked(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonDuplicateLinked)
    repo = ReplicaRepository(session)
    for pid in (event.person_id, event.other_person_id):
        await repo.ensure_person_stub(pid, event.area_code)
    await repo.put_link({"id": f"dup:{event.candidate_id}", "kind": "duplicate", "person_id": event.person_id,
                         "other_person_id": event.other_person_id, "status": event.status, "active": True,
                         "match_probability": f"{event.match_probability:.4f}"})
    await recluster(session, [event.person_id, event.other_person_id], envelope.occurred_at)
    await _touch(repo, envelope)


async def apply_duplicate_dismissed(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonDuplicateDismissed)
    repo = ReplicaRepository(session)
    await repo.put_link({"id": f"dup:{event.candidate_id}", "kind": "duplicate", "person_id": event.person_id,
                         "other_person_id": event.other_person_id, "status": "dismissed", "active": False})
    # The two may now be separate humans: each side is reclustered on its own.
    await recluster(session, [event.person_id], envelope.occurred_at)
    await recluster(session, [event.other_person_id], envelope.occurred_at)
    await _touch(repo, envelope)


async def apply_household(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, HouseholdCreated | HouseholdUpdated)
    repo = ReplicaRepository(session)
    applied = await repo.upsert_household({
        "id": event.household_id, "area_code": event.area_code, "status": event.status,
        "head_person_id": event.head_person_id, "member_count": len(event.member_ids),
        "income_band": event.income_band, "version": event.version,
    })
    if applied:
        await repo.set_members_household(event.member_ids, event.household_id, event.area_code)
    await _touch(repo, envelope)


async def apply_household_moved(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, HouseholdMoved)
    repo = ReplicaRepository(session)
    await repo.move_household(event.household_id, event.to_area_code, event.version, event.member_ids)
    await _touch(repo, envelope)


async def recluster(session: AsyncSession, start: Iterable[uuid.UUID], at: datetime) -> uuid.UUID:
    """Recompute the cluster of ``start``; a changed multi-record cluster is swept, due at ``at`` (the
    event's time: the handlers have no clock of their own, and the event happened before now)."""
    repo = ReplicaRepository(session)
    members = await repo.linked_component(start)
    cluster_id = min(members)
    changed = await repo.set_cluster(sorted(members), cluster_id)
    if changed and len(members) > 1:
        await schedule(session, SERVICE, kind=SWEEP_CLUSTER, key=str(cluster_id), due_at=at,
                       payload={"cluster_id": str(cluster_id)})
    return cluster_id


async def _touch(repo: ReplicaRepository, envelope: Envelope) -> None:
    await repo.touch(envelope.occurred_at)
    REGISTRY_COPY_LAST_EVENT.set(envelope.occurred_at.timestamp())

