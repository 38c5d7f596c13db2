"""Lookup by identifier (``POST /persons/lookup``), on the hot path.

Same contract as every person read: only persons inside the caller's area scope (else 404),
a purpose, one audit row per person returned, identifiers masked.  The rows are shaped
straight into the JSON of :class:`LookupResult` (no model validation on the way out); a test
checks the output against the model and against ``GET /persons/{id}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg
import orjson

from kernel.auth import Identity
from kernel.context import request_id_var
from kernel.errors import NotFound
from services.registry.repository.lookup import find_and_audit
from services.registry.rules.ages import age_on
from services.registry.rules.identifiers import ParsedId, mask
from services.registry.schemas.identifiers import LookupRequest
from services.registry.service.common import actor
from services.registry.service.identifiers import lookup_hash, parse_or_problem


def area_hint(identity: Identity, body: LookupRequest) -> str:
    # Phone numbers in national form need a region: take it from the ID type or the caller's scope.
    if body.type.value.startswith("bd_"):
        return "BD"
    return identity.area_scope[0] if identity.area_scope else "IN"


def _identifier(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["ident_id"],
        "type": row["ident_id_type"],
        "masked": mask(row["ident_last4"]),
        "form": row["ident_form"],
        "verification_method": row["ident_verification_method"],
        "started_at": row["ident_started_at"],
        "ended_at": None,
        "end_reason": None,
    }


def _person(row: asyncpg.Record, today: date) -> dict[str, Any]:
    # PersonOut's fields, in its order.
    return {
        "id": row["id"],
        "area_code": row["area_code"],
        "household_id": row["household_id"],
        "role": row["role"],
        "full_name": row["full_name"],
        "name_latin": row["name_latin"],
        "sex": row["sex"],
        "birth_date": row["birth_date"],
        "birth_date_estimated": row["birth_date_estimated"],
        "birth_date_source": row["birth_date_source"],
        "age": age_on(row["birth_date"], today) if row["birth_date"] else None,
        "father_name": row["father_name"],
        "mother_name": row["mother_name"],
        "spouse_name": row["spouse_name"],
        "marital_status": row["marital_status"],
        "disability": row["disability"],
        "pregnant": row["pregnant"],
        "occupation": row["occupation"],
        "phones": row["phones"],
        "preferred_language": row["preferred_language"],
        "status": row["status"],
        "deceased_on": row["deceased_on"],
        "merged_into": row["merged_into"],
        "version": row["version"],
        "identifiers": [],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def shape(rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    """Fold (person, identifier) rows, ordered by person, into PersonOut-shaped dicts."""
    today = date.today()
    people: list[dict[str, Any]] = []
    for row in rows:
        if not people or people[-1]["id"] != row["id"]:
            people.append(_person(row, today))
        if row["ident_id"] is not None:
            people[-1]["identifiers"].append(_identifier(row))
    return people


async def lookup(pool: asyncpg.Pool, identity: Identity, body: LookupRequest, purpose: str) -> bytes:
    """The JSON body of a LookupResult, or 404 when no visible person holds the identifier."""
    parsed = parse_or_problem(body.type, body.value, area_code=area_hint(identity, body), field="value")
    async with pool.acquire() as conn:
        rows = await _find(conn, identity, parsed, purpose)
    if not rows:
        raise NotFound("No person with this identifier in your area.")
    # OPT_UTC_Z writes UTC times as ...Z, as pydantic does for the other person reads;
    # str() is for asyncpg's own UUID type.
    return orjson.dumps({"items": shape(rows)}, default=str, option=orjson.OPT_UTC_Z)


async def _find(conn: asyncpg.Connection, identity: Identity, parsed: ParsedId, purpose: str) -> list[asyncpg.Record]:
    return await find_and_audit(
        conn,
        id_type=parsed.id_type.value,
        lookup_hash=lookup_hash(parsed.id_type.value, parsed.match_key),
        scopes=identity.area_scope,
        actor=actor(identity),
        purpose=purpose,
        request_id=request_id_var.get(),
        details={"kind": identity.kind, "client_id": identity.client_id, "id_type": parsed.id_type.value},
        nid17_year=parsed.birth_year if parsed.form == "nid17" else None,
    )
