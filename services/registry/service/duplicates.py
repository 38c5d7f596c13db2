"""The possible-duplicates review queue: list, merge (keeping both records' identifiers and
history; the merged-away record points to the survivor) or dismiss.  Decisions are audited."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import PersonDuplicateDismissed, PersonDuplicateLinked, PersonMerged
from kernel.auth import Identity
from kernel.errors import Conflict, NotFound, ValidationProblem
from services.registry.repository.duplicates import DuplicateRepository
from services.registry.repository.households import MembershipRepository
from services.registry.repository.persons import IdentifierRepository, PersonRepository
from services.registry.schemas.duplicates import DismissDecision, DuplicateOut, MergeDecision, MergeOutcome
from services.registry.service import duplicates_detect, events
from services.registry.service.common import actor, audit, group_identifiers, person_summary, record_history
from services.registry.service.matching import feedback
from services.registry.service.persons import PERSON_FIELDS


async def to_out(session: AsyncSession, rows: Sequence[Mapping[Any, Any]]) -> list[DuplicateOut]:
    ids = {r["person_a"] for r in rows} | {r["person_b"] for r in rows}
    repo = PersonRepository(session)
    people = {pid: await repo.get(pid, ["IN", "BD"]) for pid in ids}
    idents = group_identifiers(await IdentifierRepository(session).for_persons(list(ids), live_only=False))
    out = []
    for r in rows:
        a, b = people[r["person_a"]], people[r["person_b"]]
        assert a is not None and b is not None
        out.append(
            DuplicateOut(
                **{k: r[k] for k in DuplicateOut.model_fields if k not in ("person_a", "person_b")},
                person_a=person_summary(a, idents.get(a["id"], [])),
                person_b=person_summary(b, idents.get(b["id"], [])),
            )
        )
    return out


async def list_queue(
    session: AsyncSession, identity: Identity, *, area: str | None, status: str, limit: int, offset: int, purpose: str
) -> tuple[list[DuplicateOut], int]:
    rows, total = await DuplicateRepository(session).list_page(
        identity.area_scope, area=area, status=status, limit=limit, offset=offset
    )
    out = await to_out(session, rows)
    persons = [p for d in out for p in (d.person_a.id, d.person_b.id)]
    await audit(session, identity, "person", persons, action="read", purpose=purpose, details={"via": "duplicates"})
    return out, total


async def _open_candidate(session: AsyncSession, identity: Identity, candidate_id: uuid.UUID) -> RowMapping:
    row = await DuplicateRepository(session).get(candidate_id, identity.area_scope, lock=True)
    if row is None:
        raise NotFound("No such possible duplicate in your area.")
    if row["status"] != "open":
        raise Conflict(f"This pair was already decided ({row['status']}).")
    return row


async def dismiss(
    session: AsyncSession, identity: Identity, candidate_id: uuid.UUID, body: DismissDecision
) -> DuplicateOut:
    row = await _open_candidate(session, identity, candidate_id)
    new = await DuplicateRepository(session).decide(
        row["id"],
        {
            "status": "dismissed",
            "decided_by": actor(identity),
            "decision_note": body.note,
        },
    )
    await audit(
        session,
        identity,
        "duplicate_candidate",
        [row["id"]],
        action="duplicate.dismiss",
        purpose=body.note,
        details={"persons": [str(row["person_a"]), str(row["person_b"])]},
    )
    for pid in (row["person_a"], row["person_b"]):
        await record_history(
            session,
            identity,
            "person",
            pid,
            action="duplicate.dismissed",
            version=None,
            reason=body.note,
            changes={
                "duplicate_of": {
                    "from": None,
                    "to": str(row["person_b"] if pid == row["person_a"] else row["person_a"]),
                }
            },
        )
    person = await PersonRepository(session).get_unscoped(row["person_a"])
    assert person is not None
    await feedback.decided(session, "dismissed")
    await events.publish(
        session,
        PersonDuplicateDismissed(
            candidate_id=row["id"],
            person_id=row["person_a"],
            other_person_id=row["person_b"],
            area_code=person["area_code"],
            decided_by=actor(identity),
            reason=body.note,
        ),
    )
    return (await to_out(session, [new]))[0]


async def merge(
    session: AsyncSession, identity: Identity, candidate_id: uuid.UUID, body: MergeDecision
) -> MergeOutcome:
    row = await _open_candidate(session, identity, candidate_id)
    if body.survivor_id not in (row["person_a"], row["person_b"]):
        raise ValidationProblem(
            "The survivor must be one of the pair", errors=[{"field": "survivor_id", "reason": "not in this pair"}]
        )
    merged_id = row["person_b"] if body.survivor_id == row["person_a"] else row["person_a"]
    people = PersonRepository(session)
    survivor = await people.get_unscoped(body.survivor_id, lock=True)
    merged = await people.get_unscoped(merged_id, lock=True)
    assert survivor is not None and merged is not None
    for p in (survivor, merged):
        identity.require_area(p["area_code"])
        if p["status"] == "merged":
            raise Conflict(f"Person {p['id']} was already merged into {p['merged_into']}.")
    moved, kept = await _merge_identifiers(session, identity, survivor, merged)
    filled = {k: merged[k] for k in PERSON_FIELDS if survivor[k] in (None, []) and merged[k] not in (None, [])}
    if survivor["phones"] or merged["phones"]:
        filled["phones"] = list(dict.fromkeys([*survivor["phones"], *merged["phones"]]))
    who = actor(identity)
    new_survivor = await people.update(
        survivor["id"], {**filled, "version": survivor["version"] + 1, "updated_by": who}
    )
    await people.update(
        merged["id"],
        {"status": "merged", "merged_into": survivor["id"], "version": merged["version"] + 1, "updated_by": who},
    )
    await _merge_membership(session, survivor["id"], merged["id"])
    decided = await DuplicateRepository(session).decide(
        row["id"],
        {
            "status": "merged",
            "decided_by": who,
            "decision_note": body.note,
            "survivor_id": survivor["id"],
        },
    )
    await DuplicateRepository(session).close_involving(merged["id"], f"merged into {survivor['id']}", who)
    await record_history(
        session,
        identity,
        "person",
        survivor["id"],
        action="merge.survivor",
        version=new_survivor["version"],
        reason=body.note,
        changes={
            "merged_from": {"from": None, "to": str(merged["id"])},
            **{k: {"from": None, "to": "(from merged record)"} for k in filled},
        },
    )
    await record_history(
        session,
        identity,
        "person",
        merged["id"],
        action="merge.merged_away",
        version=merged["version"] + 1,
        reason=body.note,
        changes={"merged_into": {"from": None, "to": str(survivor["id"])}},
    )
    await audit(
        session,
        identity,
        "duplicate_candidate",
        [row["id"]],
        action="duplicate.merge",
        purpose=body.note,
        details={"survivor": str(survivor["id"]), "merged": str(merged["id"])},
    )
    await feedback.decided(session, "merged")
    await duplicates_detect.recheck(session, survivor["id"])
    await events.publish(
        session,
        PersonMerged(
            survivor_id=survivor["id"],
            merged_id=merged["id"],
            area_code=survivor["area_code"],
            decided_by=who,
            survivor_version=new_survivor["version"],
        ),
    )
    await events.publish(
        session,
        PersonDuplicateLinked(
            candidate_id=row["id"],
            person_id=survivor["id"],
            other_person_id=merged["id"],
            area_code=survivor["area_code"],
            match_probability=1.0,
            status="confirmed",
            reasons=agreeing_fields(row["details"]),
        ),
    )
    await events.person_updated(session, new_survivor, ["merged", *filled])
    return MergeOutcome(
        candidate=(await to_out(session, [decided]))[0],
        survivor_id=survivor["id"],
        merged_id=merged["id"],
        identifiers_moved=moved,
        identifiers_kept_on_merged=kept,
    )


async def _merge_identifiers(
    session: AsyncSession, identity: Identity, survivor: Mapping[Any, Any], merged: Mapping[Any, Any]
) -> tuple[list[str], list[str]]:
    """Identifiers the survivor lacks move to it; the rest stay on the merged record, ended."""
    repo = IdentifierRepository(session)
    moved: list[str] = []
    kept: list[str] = []
    for ident in await repo.for_persons([merged["id"]]):
        current = await repo.live_of_type(survivor["id"], ident["id_type"])
        if current is None:
            await repo.move(ident["id"], survivor["id"])
            moved.append(ident["id_type"])
        else:
            same = current["lookup_hash"] == ident["lookup_hash"]
            await repo.end(ident["id"], "merged: same value on survivor" if same else "merged: survivor keeps its own")
            kept.append(ident["id_type"])
    return moved, kept


async def _merge_membership(session: AsyncSession, survivor_id: uuid.UUID, merged_id: uuid.UUID) -> None:
    repo = MembershipRepository(session)
    merged_member = await repo.live_for_person(merged_id)
    if merged_member is None:
        return
    if await repo.live_for_person(survivor_id) is None:
        await repo.move_person(merged_member["id"], survivor_id)
    else:
        await repo.end(
            merged_member["id"], {"ended_on": max(merged_member["started_on"], _today()), "end_reason": "merged"}
        )


def agreeing_fields(details: Mapping[str, Any]) -> list[str]:
    """The fields a candidate's details show as agreeing (the matcher's comparison, or the rule's field)."""
    fields = details.get("fields")
    if isinstance(fields, list):
        return [f["field"] for f in fields if isinstance(f, dict) and f.get("weight", 0) > 0 and "field" in f]
    if "id_type" in details:
        return [str(details["id_type"])]
    return ["name", "parents", "birth_year"] if "name_key" in details else []


def _today() -> Any:
    from datetime import date

    return date.today()
