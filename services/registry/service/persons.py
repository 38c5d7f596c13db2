"""Persons: register, update, read (audited), deceased, history, name search."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import PersonDeceased
from kernel.auth import Identity
from kernel.errors import Conflict, NotFound, ValidationProblem
from services.registry.models import person as person_table
from services.registry.repository.history import HistoryRepository
from services.registry.repository.households import HouseholdRepository, MembershipRepository
from services.registry.repository.persons import IdentifierRepository, PersonRepository
from services.registry.rules.identifiers import IdType, InvalidIdentifier, ParsedId, check_birth_year, normalise_phone
from services.registry.rules.names import name_key, name_tokens
from services.registry.schemas.identifiers import IdentifierIn
from services.registry.schemas.persons import HistoryEntry, PersonCreate, PersonFields, PersonOut, PersonUpdate
from services.registry.service import duplicates_detect, events, identifiers, surveys
from services.registry.service.common import (
    actor,
    audit,
    diff,
    group_identifiers,
    integrity_as_conflict,
    person_out,
    record_history,
    region_of,
)

PERSON_FIELDS = tuple(PersonFields.model_fields)


def person_values(fields: Mapping[Any, Any], area_code: str, *, field_prefix: str = "") -> dict[str, Any]:
    """Column values from validated input: E.164 phones, phonetic keys, birth year."""
    values = {k: v for k, v in fields.items() if k in PERSON_FIELDS}
    if "phones" in values and values["phones"] is None:
        values["phones"] = []
    if values.get("phones"):
        phones = []
        for i, raw in enumerate(values["phones"]):
            try:
                phones.append(normalise_phone(raw, region_of(area_code)))
            except InvalidIdentifier as exc:
                raise ValidationProblem(
                    exc.reason, errors=[{"field": f"{field_prefix}phones.{i}", "reason": exc.reason}]
                ) from exc
        values["phones"] = list(dict.fromkeys(phones))
    if values.get("full_name") is not None:
        values["name_key"] = name_key(values["full_name"])
    for parent in ("father", "mother"):
        if f"{parent}_name" in values:
            values[f"{parent}_key"] = name_key(values[f"{parent}_name"] or "")
    if "birth_date" in values:
        values["birth_year"] = values["birth_date"].year if values["birth_date"] else None
    for flag in ("birth_date_estimated", "pregnant"):
        if flag in values and values[flag] is None:
            values[flag] = False
    return values


def _check_consistency(row: Mapping[Any, Any], field_prefix: str = "") -> None:
    if row.get("pregnant") and row.get("sex") != "female":
        raise ValidationProblem(
            "Only a female person can be recorded as pregnant",
            errors=[{"field": f"{field_prefix}pregnant", "reason": "sex is not female"}],
        )
    if not row.get("name_key"):
        raise ValidationProblem(
            "The name has no letters that can be searched",
            errors=[{"field": f"{field_prefix}full_name", "reason": "no letters"}],
        )


def _tokens(row: Mapping[Any, Any]) -> list[str]:
    return name_tokens(row["full_name"]) + name_tokens(row.get("name_latin") or "")


async def register(
    session: AsyncSession,
    identity: Identity,
    body: PersonCreate,
    area_code: str,
    *,
    client_ref: str | None = None,
    field_prefix: str = "",
) -> RowMapping:
    """Insert a person with their identifiers; flags duplicates; emits person.registered.
    The caller adds the household membership."""
    values = person_values(body.model_dump(exclude={"identifiers"}), area_code, field_prefix=field_prefix)
    _check_consistency(values, field_prefix)
    # Parse every identifier before writing, so a bad one rejects the whole person with a reason.
    for i, ident in enumerate(body.identifiers):
        parsed = identifiers.parse_or_problem(
            ident.type, ident.value, area_code=area_code, field=f"{field_prefix}identifiers.{i}.value"
        )
        identifiers.check_dob_against(parsed, values, f"{field_prefix}identifiers.{i}.value")
        if values.get("birth_year") is None and parsed.birth_year is not None:
            values["birth_year"] = parsed.birth_year
    types = [i.type for i in body.identifiers]
    if len(types) != len(set(types)):
        raise ValidationProblem(
            "One identifier of a type per person",
            errors=[{"field": f"{field_prefix}identifiers", "reason": "duplicate type"}],
        )
    who = actor(identity)
    with integrity_as_conflict("A record with this client_ref already exists"):
        row = await PersonRepository(session).insert(
            {**values, "area_code": area_code, "client_ref": client_ref, "created_by": who, "updated_by": who}
        )
    await PersonRepository(session).replace_tokens(row["id"], _tokens(row), area_code)
    await record_history(
        session,
        identity,
        "person",
        row["id"],
        action="create",
        version=1,
        changes=diff({}, {k: row[k] for k in PERSON_FIELDS if row[k] not in (None, [], False)}),
    )
    for i, ident in enumerate(body.identifiers):
        created, _ = await identifiers.attach(session, identity, row, ident, field=f"{field_prefix}identifiers.{i}")
        await duplicates_detect.after_identifier(session, row, created["id_type"], created["lookup_hash"])
    await duplicates_detect.after_person_change(session, row)
    await events.person_registered(session, row)
    return row


async def get_row(session: AsyncSession, identity: Identity, person_id: uuid.UUID, *, lock: bool = False) -> RowMapping:
    row = await PersonRepository(session).get(person_id, identity.area_scope, lock=lock)
    if row is None:
        raise NotFound("No such person in your area.")
    return row


async def read(session: AsyncSession, identity: Identity, person_id: uuid.UUID, purpose: str) -> PersonOut:
    row = await get_row(session, identity, person_id)
    await audit(session, identity, "person", [row["id"]], action="read", purpose=purpose)
    return await to_out(session, row)


async def to_out(session: AsyncSession, row: Mapping[Any, Any], *, live_only: bool = False) -> PersonOut:
    ids = group_identifiers(await IdentifierRepository(session).for_persons([row["id"]], live_only=live_only))
    return person_out(row, ids.get(row["id"], []))


async def _check_dob_with_ids(session: AsyncSession, person_id: uuid.UUID, values: Mapping[Any, Any]) -> None:
    for ident in await IdentifierRepository(session).for_persons([person_id]):
        if ident["birth_year"] is None:
            continue
        probe = ParsedId(IdType(ident["id_type"]), "", "", ident["form"], birth_year=ident["birth_year"])
        reason = check_birth_year(probe, values.get("birth_date"), estimated=bool(values.get("birth_date_estimated")))
        if reason:
            raise ValidationProblem(reason, errors=[{"field": "birth_date", "reason": reason}])


def require_live(row: Mapping[Any, Any]) -> None:
    if row["status"] == "merged":
        raise Conflict(
            f"This record was merged into {row['merged_into']}; edit that record.", merged_into=str(row["merged_into"])
        )


async def update(
    session: AsyncSession,
    identity: Identity,
    person_id: uuid.UUID,
    body: PersonUpdate,
    *,
    row: Mapping[Any, Any] | None = None,
) -> Mapping[Any, Any]:
    """Apply changed fields if ``base_version`` is current; a stale version is a 409 with the current one."""
    row = row or await get_row(session, identity, person_id, lock=True)
    require_live(row)
    if body.base_version != row["version"]:
        raise Conflict(
            f"The record changed since version {body.base_version}; it is now version {row['version']}",
            current_version=row["version"],
        )
    values = person_values(body.model_dump(exclude_unset=True, exclude={"base_version"}), row["area_code"])
    changes = diff(row, values)
    if not changes:
        return row
    merged = {**row, **values}
    _check_consistency(merged)
    if "birth_date" in values or "birth_date_estimated" in values:
        await _check_dob_with_ids(session, row["id"], merged)
    who = actor(identity)
    new = await PersonRepository(session).update(
        row["id"], {**values, "version": row["version"] + 1, "updated_by": who}
    )
    if {"full_name", "name_latin"} & values.keys():
        await PersonRepository(session).replace_tokens(new["id"], _tokens(new), new["area_code"])
    await record_history(
        session, identity, "person", new["id"], action="update", version=new["version"], changes=changes
    )
    await duplicates_detect.after_person_change(session, new)
    await _household_edited(session, identity, new["id"])
    await events.person_updated(session, new, list(changes))
    return new


async def _household_edited(session: AsyncSession, identity: Identity, person_id: uuid.UUID) -> None:
    member = await MembershipRepository(session).live_for_person(person_id)
    if member is not None:
        household = await HouseholdRepository(session).get(member["household_id"], ["IN", "BD"], lock=True)
        if household is not None:
            await surveys.mark_edited(session, identity, household)


async def add_identifier(
    session: AsyncSession, identity: Identity, person_id: uuid.UUID, body: IdentifierIn, *, field: str = "body"
) -> RowMapping:
    row = await get_row(session, identity, person_id, lock=True)
    require_live(row)
    with integrity_as_conflict("This person already has a live identifier of this type"):
        created, is_new = await identifiers.attach(session, identity, row, body, field=field)
    if not is_new:
        return row
    values: dict[str, Any] = {"version": row["version"] + 1, "updated_by": actor(identity)}
    if row["birth_year"] is None and created["birth_year"] is not None:
        values["birth_year"] = created["birth_year"]
    new = await PersonRepository(session).update(row["id"], values)
    await duplicates_detect.after_identifier(session, new, created["id_type"], created["lookup_hash"])
    await duplicates_detect.after_person_change(session, new)
    await _household_edited(session, identity, new["id"])
    await events.person_updated(session, new, ["identifiers"])
    return new


async def end_identifier(
    session: AsyncSession, identity: Identity, person_id: uuid.UUID, identifier_id: uuid.UUID, reason: str
) -> RowMapping:
    row = await get_row(session, identity, person_id, lock=True)
    require_live(row)
    await identifiers.end(session, identity, row, identifier_id, reason)
    new = await PersonRepository(session).update(
        row["id"], {"version": row["version"] + 1, "updated_by": actor(identity)}
    )
    await events.person_updated(session, new, ["identifiers"])
    return new


async def mark_deceased(
    session: AsyncSession, identity: Identity, person_id: uuid.UUID, deceased_on: date, base_version: int | None
) -> RowMapping:
    row = await get_row(session, identity, person_id, lock=True)
    require_live(row)
    if row["status"] == "deceased":
        raise Conflict("This person is already recorded as deceased.")
    if base_version is not None and base_version != row["version"]:
        raise Conflict(f"The record is now version {row['version']}", current_version=row["version"])
    if row["birth_date"] and deceased_on < row["birth_date"]:
        raise ValidationProblem(
            "Date of death is before date of birth", errors=[{"field": "deceased_on", "reason": "before birth"}]
        )
    new = await PersonRepository(session).update(
        row["id"],
        {
            "status": "deceased",
            "deceased_on": deceased_on,
            "pregnant": False,
            "version": row["version"] + 1,
            "updated_by": actor(identity),
        },
    )
    member = await MembershipRepository(session).live_for_person(row["id"])
    if member is not None:
        await MembershipRepository(session).end(
            member["id"], {"ended_on": max(deceased_on, member["started_on"]), "end_reason": "deceased"}
        )
    await record_history(
        session,
        identity,
        "person",
        row["id"],
        action="deceased",
        version=new["version"],
        changes=diff(row, {"status": "deceased", "deceased_on": deceased_on}),
    )
    await events.publish(
        session,
        PersonDeceased(
            person_id=row["id"], area_code=row["area_code"], deceased_on=deceased_on, version=new["version"]
        ),
    )
    return new


async def history(
    session: AsyncSession, identity: Identity, person_id: uuid.UUID, purpose: str, *, limit: int
) -> list[HistoryEntry]:
    """The person's changes, including those of records merged into it."""
    row = await get_row(session, identity, person_id)
    merged_ids = list(
        (await session.scalars(select(person_table.c.id).where(person_table.c.merged_into == row["id"]))).all()
    )
    await audit(session, identity, "person", [row["id"]], action="read_history", purpose=purpose)
    rows = await HistoryRepository(session).for_records([row["id"], *merged_ids], limit=limit)
    return [HistoryEntry.model_validate(dict(r)) for r in rows]
