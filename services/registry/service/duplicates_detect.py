"""Flag possible duplicates on every write path (API, survey, offline sync): a person holding an
identifier another active record holds, or the re-registration pattern (same name and parents,
birth year within ±3)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.repository.duplicates import DuplicateRepository
from services.registry.repository.persons import IdentifierRepository, PersonRepository
from services.registry.service.common import common_area

BIRTH_YEAR_WINDOW = 3


async def _flag(
    session: AsyncSession, a: Mapping[Any, Any], b: Mapping[Any, Any], reason: str, details: dict[str, Any]
) -> bool:
    first, second = sorted((a, b), key=lambda r: r["id"])
    return await DuplicateRepository(session).flag(
        {
            "person_a": first["id"],
            "person_b": second["id"],
            "reason": reason,
            "details": details,
            "area_code": common_area(first["area_code"], second["area_code"]),
        }
    )


async def after_identifier(session: AsyncSession, person: Mapping[Any, Any], id_type: str, digest: str) -> int:
    holders = await IdentifierRepository(session).holders(id_type, digest, exclude=person["id"])
    flagged = 0
    for other_id in holders:
        other = await PersonRepository(session).get_unscoped(other_id)
        if other is not None:
            flagged += await _flag(session, person, other, "same_identifier", {"id_type": id_type})
    return flagged


async def after_person_change(session: AsyncSession, person: Mapping[Any, Any]) -> int:
    flagged = 0
    for other in await PersonRepository(session).same_name_and_parents(person, BIRTH_YEAR_WINDOW):
        flagged += await _flag(
            session,
            person,
            other,
            "same_name_parents_birth_year",
            {"birth_years": sorted({person["birth_year"], other["birth_year"]}), "name_key": person["name_key"]},
        )
    return flagged


async def recheck(session: AsyncSession, person_id: uuid.UUID) -> None:
    person = await PersonRepository(session).get_unscoped(person_id)
    if person is None:
        return
    await after_person_change(session, person)
    for ident in await IdentifierRepository(session).for_persons([person_id]):
        await after_identifier(session, person, ident["id_type"], ident["lookup_hash"])
