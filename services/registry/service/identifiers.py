"""Identifiers: validate, protect (keyed hash + encryption + last four), attach, end, find.

Why this storage: equality lookups and the uniqueness/dedup checks need a deterministic token,
so the matching key is stored as HMAC-SHA256 under a secret key (a stolen table cannot be
reversed by enumerating the 10^12 Aadhaar space without the key).  The value itself is kept
only as a Fernet ciphertext so an authorised disclosure or a key rotation (re-hash) stays
possible, and the last four characters are kept for the masked display.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import Conflict, NotFound, ValidationProblem
from kernel.identifiers import keyed_lookup_hash
from services.registry.repository.persons import IdentifierRepository
from services.registry.rules.identifiers import (
    IdType,
    InvalidIdentifier,
    ParsedId,
    check_birth_year,
    mask,
    parse_identifier,
)
from services.registry.schemas.identifiers import IdentifierIn
from services.registry.service.common import actor, record_history, region_of
from services.registry.settings import get_registry_settings


def lookup_hash(id_type: str, match_key: str) -> str:
    return keyed_lookup_hash(get_registry_settings().id_hmac_key, id_type, match_key)


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt(value: str) -> str:
    return _fernet(get_registry_settings().id_encryption_key).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """For authorised disclosure (e.g. the DCI API) and key rotation; never used in list views."""
    return _fernet(get_registry_settings().id_encryption_key).decrypt(token.encode()).decode()


def parse_or_problem(id_type: IdType | str, value: str, *, area_code: str, field: str) -> ParsedId:
    try:
        return parse_identifier(id_type, value, region=region_of(area_code))
    except InvalidIdentifier as exc:
        raise ValidationProblem(exc.reason, errors=[{"field": field, "reason": exc.reason}]) from exc


def check_dob_against(parsed: ParsedId, person: Mapping[Any, Any], field: str) -> None:
    reason = check_birth_year(parsed, person.get("birth_date"), estimated=bool(person.get("birth_date_estimated")))
    if reason:
        raise ValidationProblem(reason, errors=[{"field": field, "reason": reason}])


async def refuse_year_conflict(repo: IdentifierRepository, parsed: ParsedId, digest: str, field: str) -> None:
    """A 17-digit NID whose 13-digit form is already stored under another year prefix is not the same
    number seen twice: one of the two is wrong, and a person must decide which (409, never a match)."""
    if parsed.form != "nid17" or parsed.birth_year is None:
        return
    conflicts = await repo.year_conflicts(parsed.id_type.value, digest, parsed.birth_year)
    if conflicts:
        years = sorted({int(c["birth_year"]) for c in conflicts})
        reason = (f"the same 13-digit NID is registered with year prefix {', '.join(map(str, years))}, "
                  f"this one has {parsed.birth_year}")
        raise Conflict(f"Conflicting 17-digit NID: {reason}; correct one of the two",
                       errors=[{"field": field, "reason": reason}])


async def attach(
    session: AsyncSession, identity: Identity, person: Mapping[Any, Any], body: IdentifierIn, *, field: str
) -> tuple[RowMapping, bool]:
    """Add a live identifier to a person; (row, created).  The same value again is a no-op."""
    parsed = parse_or_problem(body.type, body.value, area_code=person["area_code"], field=f"{field}.value")
    check_dob_against(parsed, person, f"{field}.value")
    digest = lookup_hash(parsed.id_type.value, parsed.match_key)
    repo = IdentifierRepository(session)
    await refuse_year_conflict(repo, parsed, digest, f"{field}.value")
    current = await repo.live_of_type(person["id"], parsed.id_type.value)
    if current is not None:
        if current["lookup_hash"] == digest:
            return current, False
        raise Conflict(
            f"This person already has a live {parsed.id_type.value} ({mask(current['last4'])}); end it first",
            errors=[{"field": f"{field}.type", "reason": "one live identifier of a type per person"}],
        )
    row = await repo.add(
        {
            "person_id": person["id"],
            "id_type": parsed.id_type.value,
            "form": parsed.form,
            "lookup_hash": digest,
            "value_encrypted": encrypt(parsed.value),
            "last4": parsed.last4,
            "birth_year": parsed.birth_year,
            "verification_method": body.verification_method,
            "created_by": actor(identity),
        }
    )
    await record_history(
        session,
        identity,
        "person",
        person["id"],
        action="identifier.added",
        version=person.get("version"),
        changes={
            "identifier": {
                "from": None,
                "to": {"type": parsed.id_type.value, "masked": mask(parsed.value), "form": parsed.form},
            }
        },
    )
    return row, True


async def end(
    session: AsyncSession, identity: Identity, person: Mapping[Any, Any], identifier_id: uuid.UUID, reason: str
) -> RowMapping:
    repo = IdentifierRepository(session)
    row = await repo.get(identifier_id)
    if row is None or row["person_id"] != person["id"]:
        raise NotFound("No such identifier on this person.")
    if row["ended_at"] is not None:
        raise Conflict("This identifier has already ended.")
    await repo.end(identifier_id, reason)
    await record_history(
        session,
        identity,
        "person",
        person["id"],
        action="identifier.ended",
        version=person.get("version"),
        changes={"identifier": {"from": {"type": row["id_type"], "masked": mask(row["last4"])}, "to": None}},
        reason=reason,
    )
    ended = await repo.get(identifier_id)
    assert ended is not None
    return ended
