"""Apply the registry's events to the local copy (each event once, through the kernel's inbox).

Persons and households carry a version: an older or replayed event never overwrites a newer one.
Merges and duplicate links join records into one *cluster* (one human); the cluster id is the
smallest record id in it, recomputed from the active links whenever one is added or dismissed,
and a change schedules a sweep of that cluster's ledger for double dipping that the link reveals.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
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
from kernel.scheduler import schedule
from services.benefits import SERVICE
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.service.metrics import REGISTRY_COPY_LAST_EVENT

SWEEP_CLUSTER = "benefits.sweep-cluster"


async def apply_person(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonRegistered | PersonUpdated)
    repo = ReplicaRepository(session)
    applied = await repo.upsert_person({
        "id": event.person_id, "household_id": event.household_id, "area_code": event.area_code,
        "full_name": event.full_name, "sex": event.sex, "birth_date": event.birth_date,
        "birth_year": event.birth_year, "disability": event.disability, "pregnant": event.pregnant,
        "status": event.status, "version": event.version,
    })
    if applied:
        await repo.replace_hashes(event.person_id, event.identifier_hashes)
    await _touch(repo, envelope)


async def apply_deceased(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonDeceased)
    repo = ReplicaRepository(session)
    await repo.set_person_status(event.person_id, "deceased", event.version)
    await _touch(repo, envelope)


async def apply_merged(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonMerged)
    repo = ReplicaRepository(session)
    for pid in (event.survivor_id, event.merged_id):
        await repo.ensure_person_stub(pid, event.area_code)
    await repo.set_person_status(event.merged_id, "merged", None, merged_into=event.survivor_id)
    await repo.put_link({"id": f"merge:{event.merged_id}", "kind": "merge", "person_id": event.survivor_id,
                         "other_person_id": event.merged_id, "status": "merged", "active": True})
    await recluster(session, [event.survivor_id, event.merged_id])
    await _touch(repo, envelope)


async def apply_duplicate_linked(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonDuplicateLinked)
    repo = ReplicaRepository(session)
    for pid in (event.person_id, event.other_person_id):
        await repo.ensure_person_stub(pid, event.area_code)
    await repo.put_link({"id": f"dup:{event.candidate_id}", "kind": "duplicate", "person_id": event.person_id,
                         "other_person_id": event.other_person_id, "status": event.status, "active": True,
                         "match_probability": f"{event.match_probability:.4f}"})
    await recluster(session, [event.person_id, event.other_person_id])
    await _touch(repo, envelope)


async def apply_duplicate_dismissed(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonDuplicateDismissed)
    repo = ReplicaRepository(session)
    await repo.put_link({"id": f"dup:{event.candidate_id}", "kind": "duplicate", "person_id": event.person_id,
                         "other_person_id": event.other_person_id, "status": "dismissed", "active": False})
    # The two may now be separate humans: each side is reclustered on its own.
    await recluster(session, [event.person_id])
    await recluster(session, [event.other_person_id])
    await _touch(repo, envelope)


async def apply_household(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, HouseholdCreated | HouseholdUpdated)
    repo = ReplicaRepository(session)
    applied = await repo.upsert_household({
        "id": event.household_id, "area_code": event.area_code, "status": event.status,
        "head_person_id": event.head_person_id, "member_count": len(event.member_ids), "version": event.version,
    })
    if applied:
        await repo.set_members_household(event.member_ids, event.household_id)
    await _touch(repo, envelope)


async def apply_household_moved(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, HouseholdMoved)
    repo = ReplicaRepository(session)
    await repo.move_household(event.household_id, event.to_area_code, event.version, event.member_ids)
    await _touch(repo, envelope)


async def recluster(session: AsyncSession, start: Iterable[uuid.UUID]) -> uuid.UUID:
    repo = ReplicaRepository(session)
    members = await repo.linked_component(start)
    cluster_id = min(members)
    changed = await repo.set_cluster(sorted(members), cluster_id)
    if changed and len(members) > 1:
        await schedule(session, SERVICE, kind=SWEEP_CLUSTER, key=str(cluster_id), due_at=_now(),
                       payload={"cluster_id": str(cluster_id)})
    return cluster_id


async def _touch(repo: ReplicaRepository, envelope: Envelope) -> None:
    await repo.touch(envelope.occurred_at)
    REGISTRY_COPY_LAST_EVENT.set(envelope.occurred_at.timestamp())


def _now():  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
