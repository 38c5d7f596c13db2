"""Households: create (with members), update or move, add and end members, read (audited)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import HouseholdMoved
from kernel.areas import parse_area_code
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, NotFound, ValidationProblem
from services.registry.repository.areas import AreaRepository
from services.registry.repository.history import HistoryRepository
from services.registry.repository.households import HouseholdRepository, MembershipRepository
from services.registry.repository.persons import IdentifierRepository, PersonRepository
from services.registry.schemas.households import (
    HouseholdCreate,
    HouseholdOut,
    HouseholdUpdate,
    MemberAdd,
    MemberEnd,
    MemberOut,
)
from services.registry.schemas.persons import HistoryEntry, PersonCreate
from services.registry.service import events, persons, surveys
from services.registry.service.common import (
    actor,
    audit,
    diff,
    group_identifiers,
    integrity_as_conflict,
    person_summary,
    record_history,
)

HOUSEHOLD_FIELDS = ("area_code", "address", "address_local", "income_band", "latitude", "longitude", "status")


async def _require_writable_area(session: AsyncSession, identity: Identity, area_code: str, field: str) -> None:
    # Writing outside one's own scope is refused openly: the caller named the area themselves.
    if not identity.can_access_area(area_code):
        raise Forbidden(f"Area {area_code} is outside your area scope.")
    if parse_area_code(area_code).depth > 0 and await AreaRepository(session).get(area_code) is None:
        raise ValidationProblem(
            f"Area {area_code} is not registered", errors=[{"field": field, "reason": "unknown area"}]
        )


def _check_one_head(roles: list[str]) -> None:
    heads = roles.count("head")
    if roles and heads != 1:
        raise ValidationProblem(
            f"A household needs exactly one head; {heads} given",
            errors=[{"field": "members", "reason": "exactly one member must have role 'head'"}],
        )


async def create(session: AsyncSession, identity: Identity, body: HouseholdCreate) -> RowMapping:
    await _require_writable_area(session, identity, body.area_code, "area_code")
    _check_one_head([m.role for m in body.members])
    who = actor(identity)
    values = body.model_dump(include=set(HOUSEHOLD_FIELDS) | {"client_ref"}, exclude_none=True)
    with integrity_as_conflict("A household with this client_ref already exists"):
        row = await HouseholdRepository(session).insert(
            {**values, "collected_by": who, "created_by": who, "updated_by": who}
        )
    for i, member in enumerate(body.members):
        person = await persons.register(
            session,
            identity,
            PersonCreate(**member.model_dump(exclude={"role", "started_on", "client_ref"})),
            row["area_code"],
            client_ref=member.client_ref,
            field_prefix=f"members.{i}.",
        )
        await _add_membership(session, identity, row, person["id"], member.role, member.started_on)
    await record_history(
        session,
        identity,
        "household",
        row["id"],
        action="create",
        version=1,
        changes=diff({}, {k: row[k] for k in HOUSEHOLD_FIELDS if row[k] is not None}),
    )
    await events.household_created(session, row)
    return row


async def _add_membership(
    session: AsyncSession,
    identity: Identity,
    household: Mapping[Any, Any],
    person_id: uuid.UUID,
    role: str,
    started_on: date | None,
) -> None:
    values = {"household_id": household["id"], "person_id": person_id, "role": role, "created_by": actor(identity)}
    if started_on is not None:
        values["started_on"] = started_on
    with integrity_as_conflict("The household already has a head, or the person already lives in a household"):
        async with session.begin_nested():
            await MembershipRepository(session).add(values)
    change = {"member": {"from": None, "to": {"person_id": str(person_id), "role": role}}}
    await record_history(
        session,
        identity,
        "household",
        household["id"],
        action="member.added",
        version=household["version"],
        changes=change,
    )
    await record_history(
        session,
        identity,
        "person",
        person_id,
        action="membership.started",
        version=None,
        changes={"household": {"from": None, "to": {"id": str(household["id"]), "role": role}}},
    )


async def get_row(
    session: AsyncSession, identity: Identity, household_id: uuid.UUID, *, lock: bool = False
) -> RowMapping:
    row = await HouseholdRepository(session).get(household_id, identity.area_scope, lock=lock)
    if row is None:
        raise NotFound("No such household in your area.")
    return row


async def to_out(session: AsyncSession, row: Mapping[Any, Any]) -> HouseholdOut:
    members = await HouseholdRepository(session).members(row["id"])
    ids = group_identifiers(await IdentifierRepository(session).for_persons([m["id"] for m in members]))
    out = [
        MemberOut(**person_summary(m, ids.get(m["id"], [])).model_dump(), started_on=m["started_on"]) for m in members
    ]
    return HouseholdOut(**{k: row[k] for k in HouseholdOut.model_fields if k != "members"}, members=out)


async def read(session: AsyncSession, identity: Identity, household_id: uuid.UUID, purpose: str) -> HouseholdOut:
    row = await get_row(session, identity, household_id)
    out = await to_out(session, row)
    await audit(session, identity, "household", [row["id"]], action="read", purpose=purpose)
    await audit(
        session,
        identity,
        "person",
        [m.id for m in out.members],
        action="read",
        purpose=purpose,
        details={"via": "household"},
    )
    return out


async def update(
    session: AsyncSession,
    identity: Identity,
    household_id: uuid.UUID,
    body: HouseholdUpdate,
    *,
    row: Mapping[Any, Any] | None = None,
) -> Mapping[Any, Any]:
    row = row or await get_row(session, identity, household_id, lock=True)
    if body.base_version != row["version"]:
        raise Conflict(
            f"The household changed since version {body.base_version}; it is now version {row['version']}",
            current_version=row["version"],
        )
    values = body.model_dump(exclude_unset=True, exclude={"base_version"})
    if values.get("area_code") is None:
        values.pop("area_code", None)
    for key in ("address",):
        if key in values and values[key] is None:
            raise ValidationProblem(f"{key} cannot be null", errors=[{"field": key, "reason": "null"}])
    changes = diff(row, values)
    if not changes:
        return row
    moving = "area_code" in changes
    if moving:
        await _require_writable_area(session, identity, values["area_code"], "area_code")
    who = actor(identity)
    new = await HouseholdRepository(session).update(
        row["id"], {**values, "version": row["version"] + 1, "updated_by": who}
    )
    new = await surveys.mark_edited(session, identity, new)
    await record_history(
        session,
        identity,
        "household",
        new["id"],
        action="move" if moving else "update",
        version=new["version"],
        changes=changes,
    )
    if moving:
        moved = await PersonRepository(session).set_area_for_household(new["id"], new["area_code"], who)
        await events.publish(
            session,
            HouseholdMoved(
                household_id=new["id"],
                from_area_code=row["area_code"],
                to_area_code=new["area_code"],
                member_ids=moved,
                version=new["version"],
            ),
        )
    await events.household_updated(session, new, list(changes))
    return new


async def add_member(session: AsyncSession, identity: Identity, household_id: uuid.UUID, body: MemberAdd) -> RowMapping:
    household = await get_row(session, identity, household_id, lock=True)
    if household["status"] != "active":
        raise Conflict(f"The household is {household['status']}; members cannot be added")
    if body.role == "head" and await HouseholdRepository(session).live_heads(household["id"]):
        raise Conflict(
            "The household already has a head; end that membership first",
            errors=[{"field": "role", "reason": "exactly one head per household"}],
        )
    if body.person is not None:
        person = await persons.register(session, identity, body.person, household["area_code"], field_prefix="person.")
    else:
        assert body.person_id is not None
        found = await PersonRepository(session).get(body.person_id, identity.area_scope, lock=True)
        if found is None:
            raise ValidationProblem(
                "No such person in your area; a membership needs an existing person",
                errors=[{"field": "person_id", "reason": "unknown person"}],
            )
        if found["status"] != "active":
            raise Conflict(f"The person is {found['status']}; only active persons can join a household")
        if found["household_id"] is not None:
            raise Conflict(
                "The person already lives in a household; end that membership first",
                errors=[{"field": "person_id", "reason": "one live household per person"}],
            )
        person = found
        if person["area_code"] != household["area_code"]:
            await PersonRepository(session).update(
                person["id"],
                {
                    "area_code": household["area_code"],
                    "version": person["version"] + 1,
                    "updated_by": actor(identity),
                },
            )
            await PersonRepository(session).replace_tokens(
                person["id"], persons._tokens(person), household["area_code"]
            )
    await _add_membership(session, identity, household, person["id"], body.role, body.started_on)
    new = await HouseholdRepository(session).update(
        household["id"], {"version": household["version"] + 1, "updated_by": actor(identity)}
    )
    new = await surveys.mark_edited(session, identity, new)
    await events.household_updated(session, new, ["members"])
    return new


async def end_member(
    session: AsyncSession, identity: Identity, household_id: uuid.UUID, person_id: uuid.UUID, body: MemberEnd
) -> RowMapping:
    household = await get_row(session, identity, household_id, lock=True)
    member = await MembershipRepository(session).live_for_person(person_id)
    if member is None or member["household_id"] != household["id"]:
        raise NotFound("This person is not a current member of the household.")
    if body.ended_on < member["started_on"]:
        raise ValidationProblem(
            "The membership cannot end before it started", errors=[{"field": "ended_on", "reason": "before started_on"}]
        )
    await MembershipRepository(session).end(member["id"], {"ended_on": body.ended_on, "end_reason": body.reason})
    change = {"member": {"from": {"person_id": str(person_id), "role": member["role"]}, "to": None}}
    await record_history(
        session,
        identity,
        "household",
        household["id"],
        action="member.ended",
        version=household["version"] + 1,
        changes=change,
        reason=body.reason,
    )
    await record_history(
        session,
        identity,
        "person",
        person_id,
        action="membership.ended",
        version=None,
        changes={"household": {"from": str(household["id"]), "to": None}},
        reason=body.reason,
    )
    new = await HouseholdRepository(session).update(
        household["id"], {"version": household["version"] + 1, "updated_by": actor(identity)}
    )
    new = await surveys.mark_edited(session, identity, new)
    await events.household_updated(session, new, ["members"])
    return new


async def list_page(
    session: AsyncSession, identity: Identity, *, area: str | None, survey_status: str | None, limit: int, offset: int
) -> tuple[list[RowMapping], int]:
    return await HouseholdRepository(session).list_page(
        identity.area_scope, area=area, survey_status=survey_status, limit=limit, offset=offset
    )


async def history(
    session: AsyncSession, identity: Identity, household_id: uuid.UUID, purpose: str, *, limit: int
) -> list[HistoryEntry]:
    row = await get_row(session, identity, household_id)
    await audit(session, identity, "household", [row["id"]], action="read_history", purpose=purpose)
    return [
        HistoryEntry.model_validate(dict(r))
        for r in await HistoryRepository(session).for_records([row["id"]], limit=limit)
    ]
