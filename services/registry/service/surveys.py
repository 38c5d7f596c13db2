"""The survey workflow (collected -> verified -> approved, or returned) and offline sync."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import SurveyApproved
from kernel import roles
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, Problem, ValidationProblem
from services.registry.repository.households import HouseholdRepository
from services.registry.repository.persons import IdentifierRepository, PersonRepository
from services.registry.repository.surveys import SyncBatchRepository
from services.registry.rules import survey
from services.registry.rules.survey import SurveyAction, SurveyState, SurveyStatus
from services.registry.schemas.households import SurveyDecision
from services.registry.schemas.surveys import SyncBatch, SyncHousehold, SyncPerson, SyncResult, SyncRowResult
from services.registry.service import events
from services.registry.service.common import actor, record_history


async def mark_edited(session: AsyncSession, identity: Identity, household: Mapping[Any, Any]) -> RowMapping:
    """Content changed: what was verified is no longer what is stored, so review starts again."""
    state = SurveyState(SurveyStatus(household["survey_status"]), household["return_reason"])
    new_state = survey.apply(state, SurveyAction.EDIT)
    repo = HouseholdRepository(session)
    if new_state == state:
        row = await repo.get(household["id"], ["IN", "BD"])
        assert row is not None
        return row
    await record_history(
        session,
        identity,
        "household",
        household["id"],
        action="survey.edit",
        version=household["version"],
        changes={"survey_status": {"from": state.status.value, "to": new_state.status.value}},
    )
    return await repo.update(
        household["id"],
        {
            "survey_status": new_state.status.value,
            "return_reason": None,
            "verified_by": None,
            "verified_at": None,
            "approved_by": None,
            "approved_at": None,
        },
    )


async def decide(
    session: AsyncSession, identity: Identity, household_id: uuid.UUID, body: SurveyDecision
) -> RowMapping:
    from services.registry.service.households import get_row

    action = SurveyAction(body.action)
    permission = survey.ACTION_PERMISSIONS[action]
    roles.require(identity, permission, doing=f"{action.value} a survey record")
    row = await get_row(session, identity, household_id, lock=True)
    roles.require(identity, permission, row["area_code"], doing=f"{action.value} a survey record")
    if body.base_version is not None and body.base_version != row["version"]:
        raise Conflict(
            f"The record changed since version {body.base_version}; review version {row['version']}",
            current_version=row["version"],
        )
    who = actor(identity)
    _four_eyes(action, row, who)
    if action is SurveyAction.VERIFY and await HouseholdRepository(session).live_heads(row["id"]) != 1:
        raise ValidationProblem(
            "A household needs exactly one head before it can be verified",
            errors=[{"field": "members", "reason": "no head of household"}],
        )
    try:
        new_state = survey.apply(
            SurveyState(SurveyStatus(row["survey_status"]), row["return_reason"]), action, reason=body.reason
        )
    except survey.InvalidTransition as exc:
        if action is SurveyAction.RETURN and not body.reason:
            raise ValidationProblem(str(exc), errors=[{"field": "reason", "reason": "required"}]) from exc
        raise Conflict(str(exc)) from exc
    values: dict[str, Any] = {
        "survey_status": new_state.status.value,
        "return_reason": new_state.return_reason,
        "version": row["version"] + 1,
        "updated_by": who,
    }
    if action is SurveyAction.VERIFY:
        values |= {"verified_by": who, "verified_at": _now()}
    elif action is SurveyAction.APPROVE:
        values |= {"approved_by": who, "approved_at": _now()}
    new = await HouseholdRepository(session).update(row["id"], values)
    await record_history(
        session,
        identity,
        "household",
        row["id"],
        action=f"survey.{action.value}",
        version=new["version"],
        reason=new_state.return_reason,
        changes={"survey_status": {"from": row["survey_status"], "to": new["survey_status"]}},
    )
    if action is SurveyAction.APPROVE:
        members = await HouseholdRepository(session).members(new["id"])
        await events.publish(
            session,
            SurveyApproved(
                household_id=new["id"],
                area_code=new["area_code"],
                member_ids=[m["id"] for m in members],
                verified_by=new["verified_by"],
                approved_by=who,
                version=new["version"],
            ),
        )
    return new


def _now() -> Any:
    from sqlalchemy import func

    return func.now()


def _four_eyes(action: SurveyAction, row: Mapping[Any, Any], who: str) -> None:
    """The verifier is not the collector, and the approver is not the verifier."""
    if action is SurveyAction.VERIFY and row["collected_by"] == who:
        raise Forbidden("You collected this record; another person must verify it.")
    if action is SurveyAction.APPROVE and row["verified_by"] == who:
        raise Forbidden("You verified this record; another person must approve it.")


# ------------------------------------------------------------------------------------ offline sync


def _payload_hash(batch: SyncBatch) -> str:
    return hashlib.sha256(batch.model_dump_json().encode()).hexdigest()


async def sync(session: AsyncSession, identity: Identity, batch: SyncBatch) -> SyncResult:
    """Apply a device's batch row by row.  Each row succeeds or fails alone (savepoints); a row
    edited from a stale version is reported as a conflict and left untouched; the same batch sent
    again returns the stored result and writes nothing."""
    repo = SyncBatchRepository(session)
    await repo.lock_key(batch.device_id, batch.batch_id)
    digest = _payload_hash(batch)
    stored = await repo.get(batch.device_id, batch.batch_id)
    if stored is not None:
        if stored["payload_hash"] != digest:
            raise Conflict("This batch_id was already used for different content; send it under a new batch_id")
        return SyncResult.model_validate({**stored["result"], "replayed": True})
    rows: list[SyncRowResult] = []
    households: dict[str, Mapping[Any, Any]] = {}
    for hh in batch.households:
        result, row = await _guarded(session, "household", hh.client_ref, _sync_household(session, identity, hh))
        rows.append(result)
        if row is not None:
            households[hh.client_ref] = row
    for p in batch.persons:
        rows.append(
            (await _guarded(session, "person", p.client_ref, _sync_person(session, identity, p, households)))[0]
        )
    await _report_final_versions(session, rows)
    outcome = SyncResult(device_id=batch.device_id, batch_id=batch.batch_id, replayed=False, rows=rows)
    await repo.store(
        {
            "device_id": batch.device_id,
            "batch_id": batch.batch_id,
            "payload_hash": digest,
            "submitted_by": actor(identity),
            "result": outcome.model_dump(mode="json"),
        }
    )
    return outcome


async def _report_final_versions(session: AsyncSession, rows: list[SyncRowResult]) -> None:
    """Adding members bumps a household's version: tell the device the version it must edit from."""
    for i, row in enumerate(rows):
        if row.kind == "household" and row.id is not None and row.status != "conflict":
            current = await HouseholdRepository(session).get(row.id, ["IN", "BD"])
            if current is not None:
                rows[i] = row.model_copy(update={"version": current["version"]})


async def _guarded(
    session: AsyncSession, kind: str, client_ref: str, work: Any
) -> tuple[SyncRowResult, Mapping[Any, Any] | None]:
    try:
        async with session.begin_nested():
            return await work  # type: ignore[no-any-return]
    except Problem as problem:
        return SyncRowResult(
            kind=kind,
            client_ref=client_ref,
            status="rejected",
            reason=problem.detail,  # type: ignore[arg-type]
            errors=problem.errors,
        ), None


def _conflict(kind: str, ref: str, row: Mapping[Any, Any], why: str) -> tuple[SyncRowResult, Mapping[Any, Any]]:
    return SyncRowResult(
        kind=kind,
        client_ref=ref,
        status="conflict",
        id=row["id"],  # type: ignore[arg-type]
        current_version=row["version"],
        reason=why,
    ), row  # type: ignore[return-value]


async def _sync_household(
    session: AsyncSession, identity: Identity, hh: SyncHousehold
) -> tuple[SyncRowResult, Mapping[Any, Any] | None]:
    from services.registry.schemas.households import HouseholdCreate, HouseholdUpdate
    from services.registry.service import households

    existing = await HouseholdRepository(session).by_client_ref(hh.client_ref, lock=True)
    fields = hh.model_dump(exclude={"client_ref", "base_version"})
    if existing is None:
        if hh.base_version is not None:
            raise ValidationProblem("The server has no household with this client_ref to update")
        row = await households.create(session, identity, HouseholdCreate(**fields, client_ref=hh.client_ref))
        return SyncRowResult(
            kind="household", client_ref=hh.client_ref, status="created", id=row["id"], version=row["version"]
        ), row
    if not identity.can_access_area(existing["area_code"]):
        raise ValidationProblem("No household with this client_ref in your area")
    if all(existing[k] == v for k, v in fields.items()):
        return SyncRowResult(
            kind="household",
            client_ref=hh.client_ref,
            status="unchanged",
            id=existing["id"],
            version=existing["version"],
        ), existing
    if hh.base_version != existing["version"]:
        return _conflict(
            "household",
            hh.client_ref,
            existing,
            f"edited from version {hh.base_version} but the server has version {existing['version']}",
        )
    updated = await households.update(
        session, identity, existing["id"], HouseholdUpdate(base_version=hh.base_version, **fields), row=existing
    )
    return SyncRowResult(
        kind="household", client_ref=hh.client_ref, status="updated", id=updated["id"], version=updated["version"]
    ), updated


async def _person_unchanged(session: AsyncSession, existing: Mapping[Any, Any], p: SyncPerson) -> bool:
    from services.registry.service.identifiers import lookup_hash, parse_or_problem
    from services.registry.service.persons import person_values

    values = person_values(
        p.model_dump(
            exclude={"identifiers", "client_ref", "base_version", "household_client_ref", "role", "started_on"}
        ),
        existing["area_code"],
    )
    if any(existing[k] != (list(v) if isinstance(v, list) else v) for k, v in values.items()):
        return False
    live = {(i["id_type"], i["lookup_hash"]) for i in await IdentifierRepository(session).for_persons([existing["id"]])}
    for ident in p.identifiers:
        parsed = parse_or_problem(ident.type, ident.value, area_code=existing["area_code"], field="identifiers")
        if (parsed.id_type.value, lookup_hash(parsed.id_type.value, parsed.match_key)) not in live:
            return False
    return True


async def _sync_person(
    session: AsyncSession, identity: Identity, p: SyncPerson, batch_households: dict[str, Mapping[Any, Any]]
) -> tuple[SyncRowResult, Mapping[Any, Any] | None]:
    from services.registry.schemas.households import MemberAdd
    from services.registry.schemas.persons import PersonCreate, PersonUpdate
    from services.registry.service import households, persons

    existing = await PersonRepository(session).by_client_ref(p.client_ref)
    if existing is None:
        if p.base_version is not None:
            raise ValidationProblem("The server has no person with this client_ref to update")
        household = batch_households.get(p.household_client_ref) or await HouseholdRepository(session).by_client_ref(
            p.household_client_ref
        )
        if household is None or not identity.can_access_area(household["area_code"]):
            raise ValidationProblem(
                "Unknown household_client_ref; send the household first",
                errors=[{"field": "household_client_ref", "reason": "unknown household"}],
            )
        body = PersonCreate(
            **p.model_dump(exclude={"client_ref", "base_version", "household_client_ref", "role", "started_on"})
        )
        row: Mapping[Any, Any] = await persons.register(
            session, identity, body, household["area_code"], client_ref=p.client_ref
        )
        await households.add_member(
            session, identity, household["id"], MemberAdd(role=p.role, started_on=p.started_on, person_id=row["id"])
        )
        return SyncRowResult(
            kind="person", client_ref=p.client_ref, status="created", id=row["id"], version=row["version"]
        ), row
    if not identity.can_access_area(existing["area_code"]):
        raise ValidationProblem("No person with this client_ref in your area")
    if await _person_unchanged(session, existing, p):
        return SyncRowResult(
            kind="person", client_ref=p.client_ref, status="unchanged", id=existing["id"], version=existing["version"]
        ), existing
    if p.base_version != existing["version"]:
        return _conflict(
            "person",
            p.client_ref,
            existing,
            f"edited from version {p.base_version} but the server has version {existing['version']}",
        )
    fields = p.model_dump(
        exclude={"identifiers", "client_ref", "base_version", "household_client_ref", "role", "started_on"}
    )
    row = await persons.update(
        session, identity, existing["id"], PersonUpdate(base_version=p.base_version, **fields)
    )
    for i, ident in enumerate(p.identifiers):
        row = await persons.add_identifier(session, identity, row["id"], ident, field=f"identifiers.{i}")
    return SyncRowResult(
        kind="person", client_ref=p.client_ref, status="updated", id=row["id"], version=row["version"]
    ), row
