"""The marketplace's copy of the registry, and workers' registry links checked against it.

Kept from the registry's person events (``marketplace-registry-persons``; each event applied once
through the kernel's inbox, older versions never overwrite newer ones):

- registered / updated: the person's status and identifier *types* (never values); every worker
  linked to them is judged again (pending → verified, or mismatch when that type is not listed).
- deceased: linked workers become ``deceased``, unavailable and out of the search; they cannot be
  made available again.
- merged: the merged record points at the survivor; workers linked to the merged record are
  re-pointed to the survivor and judged against it.

A new link is judged at enrolment (``check_link``): refused (422 naming the field) for a deceased
person, and, while the copy is current, for an unknown person or an identifier type the registry
does not list; accepted as ``pending`` while the copy lags (rules/registry_link.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from contracts.registry import PersonDeceased, PersonMerged, PersonRegistered, PersonUpdated
from services.marketplace.metrics import REGISTRY_COPY_LAST_EVENT, REGISTRY_LINKS
from services.marketplace.repository.registry import RegistryCopyRepository
from services.marketplace.repository.workers import WorkerRepository
from services.marketplace.rules.registry_link import MAX_MERGE_HOPS, PersonCopy, Verdict, copy_is_current, judge
from services.marketplace.schemas.workers import RegistryCopyOut, RegistryLink
from services.marketplace.service.common import after_commit, invalid
from services.marketplace.settings import get_marketplace_settings

ACTOR = "marketplace:registry-copy"


def max_lag() -> timedelta:
    return timedelta(seconds=get_marketplace_settings().registry_copy_max_lag_seconds)


async def _resolve(repo: RegistryCopyRepository, person_id: uuid.UUID) -> tuple[uuid.UUID, PersonCopy | None]:
    """The surviving record for ``person_id`` (itself unless merged) and its copy (None: not in the copy)."""
    current = person_id
    for _ in range(MAX_MERGE_HOPS):
        found = (await repo.persons([current])).get(current)
        if found is None or found.status != "merged" or found.merged_into is None:
            return current, found
        current = found.merged_into
    return current, None  # a loop of merges in bad data: treat as not known


async def check_link(session: AsyncSession, link: RegistryLink, now: datetime) -> Verdict:
    """Judge a new link; a refusal is raised as 422 naming the field."""
    repo = RegistryCopyRepository(session)
    current = copy_is_current(await repo.last_event_at(), now, max_lag())
    person_id, person = await _resolve(repo, link.person_id)
    verdict = judge(person, person_id, link.identifier_type, current=current)
    if verdict.refusal is not None:
        field, why = verdict.refusal
        raise invalid(field, why)
    after_commit(session, REGISTRY_LINKS.labels(verdict.status).inc)
    return verdict


async def copy_state(session: AsyncSession, now: datetime) -> RegistryCopyOut:
    state = await RegistryCopyRepository(session).state()
    last = state["last_event_at"]
    lag = max(0.0, (now - last).total_seconds()) if last is not None else None
    limit = max_lag()
    return RegistryCopyOut(**state, lag_seconds=lag, current=copy_is_current(last, now, limit),
                           max_lag_seconds=int(limit.total_seconds()))


async def _rejudge(session: AsyncSession, person_ids: list[uuid.UUID]) -> None:
    """Judge again every worker linked to these records, re-pointing it to the survivor of a merge."""
    repo = RegistryCopyRepository(session)
    workers = WorkerRepository(session)
    for row in await repo.linked_workers(person_ids):
        person_id, person = await _resolve(repo, row["registry_person_id"])
        verdict = judge(person, person_id, row["registry_identifier_type"], current=True)
        if verdict.status == row["registry_link_status"] and person_id == row["registry_person_id"]:
            continue
        values: dict[str, object] = {"registry_person_id": person_id, "registry_link_status": verdict.status,
                                     "registry_checked_at": func.now(), "updated_by": ACTOR}
        if verdict.status == "deceased":
            values["available"] = False  # out of the search; set_availability refuses to turn it back on
        await workers.update(row["id"], values)
        if verdict.status == "deceased":
            await workers.refresh_matchable([row["id"]])
        after_commit(session, REGISTRY_LINKS.labels(verdict.status).inc)


async def apply_person(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonRegistered | PersonUpdated)
    repo = RegistryCopyRepository(session)
    if await repo.upsert_person(event.person_id, event.status, event.identifier_types, event.version):
        await _rejudge(session, [event.person_id])
    await _touch(repo, envelope)


async def apply_deceased(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonDeceased)
    repo = RegistryCopyRepository(session)
    await repo.ensure_person(event.person_id)
    await repo.set_status(event.person_id, "deceased", version=event.version)
    await _rejudge(session, [event.person_id])
    await _touch(repo, envelope)


async def apply_merged(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, PersonMerged)
    repo = RegistryCopyRepository(session)
    for pid in (event.survivor_id, event.merged_id):
        await repo.ensure_person(pid)
    await repo.set_status(event.merged_id, "merged", merged_into=event.survivor_id)
    await _rejudge(session, [event.merged_id])
    await _touch(repo, envelope)


async def _touch(repo: RegistryCopyRepository, envelope: Envelope) -> None:
    await repo.touch(envelope.occurred_at)
    after_commit(repo.session, lambda: _seen(envelope.occurred_at))


_newest: list[float] = [0.0]  # the newest event time this process applied (events may arrive out of order)


def _seen(occurred_at: datetime) -> None:
    _newest[0] = max(_newest[0], occurred_at.timestamp())
    REGISTRY_COPY_LAST_EVENT.set(_newest[0])
