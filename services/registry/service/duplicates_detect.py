"""Flag possible duplicates on every write path (API, survey, offline sync): a person holding an
identifier another active record holds, the re-registration pattern (same name and parents,
birth year within ±3), or a pair the probabilistic matcher scores at or above its threshold
(service/matching/incremental.py).  Every queued pair carries the matcher's probability and the
fields that agreed and disagreed, with their weights."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import PersonDuplicateLinked
from services.registry.repository.duplicates import DuplicateRepository
from services.registry.repository.persons import IdentifierRepository, PersonRepository
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD
from services.registry.service import events
from services.registry.service.common import common_area
from services.registry.service.matching import incremental

BIRTH_YEAR_WINDOW = 3


async def flag(
    session: AsyncSession, a: Mapping[Any, Any], b: Mapping[Any, Any], reason: str, details: dict[str, Any],
    scored: incremental.Scored | None = None,
) -> bool:
    """Queue the pair with the matcher's view of it (probability, fields and weights); the first time
    a pair is queued with a probability at or above the threshold, announce it as a suspected link."""
    first, second = sorted((a, b), key=lambda r: r["id"])
    repo = DuplicateRepository(session)
    if await repo.dismissed(first["id"], second["id"]):
        return False
    scored = scored or await incremental.explain_pair(session, a, b)
    seen = await repo.known(first["id"], second["id"])
    candidate_id = await repo.insert(
        {
            "person_a": first["id"],
            "person_b": second["id"],
            "reason": reason,
            "details": {**details, **scored.details()},
            "area_code": common_area(first["area_code"], second["area_code"]),
        }
    )
    if candidate_id is None:
        return False
    if not seen:
        await announce(session, candidate_id, first["id"], second["id"], first["area_code"], scored)
    return True


async def announce(session: AsyncSession, candidate_id: uuid.UUID, person_id: uuid.UUID, other_id: uuid.UUID,
                   area_code: str, scored: incremental.Scored) -> None:
    """A pair queued for the first time at or above the threshold is announced as a suspected link."""
    event = suspected_link(candidate_id, person_id, other_id, area_code, scored)
    if event is not None:
        await events.publish(session, event)


def suspected_link(candidate_id: uuid.UUID, person_id: uuid.UUID, other_id: uuid.UUID, area_code: str,
                   scored: incremental.Scored) -> PersonDuplicateLinked | None:
    if scored.probability < DEFAULT_THRESHOLD:
        return None
    return PersonDuplicateLinked(
        candidate_id=candidate_id,
        person_id=person_id,
        other_person_id=other_id,
        area_code=area_code,
        match_probability=min(max(scored.probability, 0.0), 1.0),
        status="suspected",
        reasons=[str(f["field"]) for f in scored.fields if float(str(f["weight"])) > 0],
    )


async def after_identifier(session: AsyncSession, person: Mapping[Any, Any], id_type: str, digest: str) -> int:
    holders = await IdentifierRepository(session).holders(id_type, digest, exclude=person["id"])
    flagged = 0
    for other_id in holders:
        other = await PersonRepository(session).get_unscoped(other_id)
        if other is not None:
            flagged += await flag(session, person, other, "same_identifier", {"id_type": id_type})
    return flagged


async def after_person_change(session: AsyncSession, person: Mapping[Any, Any]) -> int:
    flagged = 0
    for other in await PersonRepository(session).same_name_and_parents(person, BIRTH_YEAR_WINDOW):
        flagged += await flag(
            session,
            person,
            other,
            "same_name_parents_birth_year",
            {"birth_years": sorted({person["birth_year"], other["birth_year"]}), "name_key": person["name_key"]},
        )
    for found in await incremental.check(session, person):
        first, second = sorted((person["id"], found.other["id"]))
        if not await DuplicateRepository(session).known(first, second):  # one queue entry per pair
            queued = await flag(session, person, found.other, "probable_match", {}, found)
            incremental.FLAGGED.labels("incremental").inc(queued)
            flagged += queued
    return flagged


async def recheck(session: AsyncSession, person_id: uuid.UUID) -> None:
    person = await PersonRepository(session).get_unscoped(person_id)
    if person is None:
        return
    await after_person_change(session, person)
    for ident in await IdentifierRepository(session).for_persons([person_id]):
        await after_identifier(session, person, ident["id_type"], ident["lookup_hash"])
