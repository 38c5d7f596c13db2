"""The yearly revision round (January round): open, work items, report coverage and diff, close.

Item decisions are recorded while the round is open; closures (moved, deceased, dissolved) take
effect when the block / upazila office closes the round, through the household and person
services, so their history and events are the ones every other change produces.  Edits take
effect at once, through the same services, and are linked to the item.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import RoundAreaCoverage, RoundClosed
from kernel import roles
from kernel.areas import is_within, parse_area_code
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, NotFound, ValidationProblem
from kernel.scheduler import Job, cancel, schedule
from services.registry import SERVICE
from services.registry.repository.areas import AreaRepository
from services.registry.repository.history import AuditRepository
from services.registry.repository.households import HouseholdRepository, MembershipRepository
from services.registry.repository.queries import QueryRepository
from services.registry.repository.rounds import RoundItemRepository, RoundPersonRepository, RoundRepository
from services.registry.rules import rounds as rules
from services.registry.rules.rounds import CloseOutcome, ItemAction, ItemState, ItemStatus
from services.registry.schemas.households import HouseholdUpdate, MemberEnd
from services.registry.schemas.persons import PersonUpdate
from services.registry.schemas.queries import Cell
from services.registry.schemas.rounds import (
    AreaCoverage,
    CoverageOut,
    ItemClose,
    ItemConfirm,
    ItemEdit,
    ItemReopen,
    RoundClose,
    RoundDiff,
    RoundOpen,
)
from services.registry.service import events, households, persons
from services.registry.service.common import actor, integrity_as_conflict, record_history
from services.registry.service.queries import AGE_BANDS, SEXES, suppress, years_before

OVERDUE_JOB = "registry.round_overdue"


async def _require_registered_area(session: AsyncSession, code: str, field: str) -> None:
    if parse_area_code(code).depth > 0 and await AreaRepository(session).get(code) is None:
        raise ValidationProblem(f"Area {code} is not registered", errors=[{"field": field, "reason": "unknown area"}])


# ------------------------------------------------------------------------------------ rounds


async def open_round(session: AsyncSession, identity: Identity, body: RoundOpen) -> RowMapping:
    """Open the round and carry every active household of the area forward, set-based."""
    roles.require(identity, rules.ROUND_PERMISSION, doing="open a revision round")
    if not identity.can_access_area(body.area_code):
        raise Forbidden(f"Area {body.area_code} is outside your area scope.")
    roles.require(identity, rules.ROUND_PERMISSION, body.area_code, doing="open a revision round")
    await _require_registered_area(session, body.area_code, "area_code")
    repo = RoundRepository(session)
    await repo.lock_year(body.year)
    existing = await repo.overlapping(body.area_code, body.year)
    if existing is not None:
        raise Conflict(
            f"A {body.year} round for {existing['area_code']} is already {existing['status']} and overlaps this area",
            round_id=str(existing["id"]),
        )
    who = actor(identity)
    with integrity_as_conflict(f"A {body.year} round for {body.area_code} already exists"):
        row = await repo.insert({"area_code": body.area_code, "year": body.year, "due_on": body.due_on,
                                 "opened_by": who})
    carried = await RoundItemRepository(session).carry_forward(row["id"], body.area_code)
    row = await repo.update(row["id"], {"households_total": carried})
    await record_history(
        session, identity, "round", row["id"], action="open", version=row["version"],
        changes={"area_code": {"from": None, "to": row["area_code"]}, "year": {"from": None, "to": row["year"]},
                 "households_total": {"from": None, "to": carried}},
    )
    if body.due_on is not None:
        due_at = datetime.combine(body.due_on + timedelta(days=1), time.min, tzinfo=timezone.utc)
        await schedule(session, SERVICE, kind=OVERDUE_JOB, key=str(row["id"]), due_at=due_at,
                       payload={"round_id": str(row["id"])})
    return row


async def get_round(session: AsyncSession, identity: Identity, round_id: uuid.UUID, *, lock: str | None = None
                    ) -> RowMapping:
    row = await RoundRepository(session).get(round_id, identity.area_scope, lock=lock)
    if row is None:
        raise NotFound("No such round in your area.")
    return row


async def list_rounds(
    session: AsyncSession, identity: Identity, *, area: str | None, year: int | None, status: str | None,
    limit: int, offset: int,
) -> tuple[list[RowMapping], int]:
    return await RoundRepository(session).list_page(
        identity.area_scope, area=area, year=year, status=status, limit=limit, offset=offset
    )


# ------------------------------------------------------------------------------------ items


async def list_items(
    session: AsyncSession, identity: Identity, round_id: uuid.UUID, *, area: str | None, status: str | None,
    limit: int, offset: int,
) -> tuple[list[RowMapping], int]:
    await get_round(session, identity, round_id)
    return await RoundItemRepository(session).list_page(
        round_id, identity.area_scope, area=area, status=status, limit=limit, offset=offset
    )


async def get_item(session: AsyncSession, identity: Identity, round_id: uuid.UUID, item_id: uuid.UUID,
                   *, lock: bool = False) -> RowMapping:
    row = await RoundItemRepository(session).get(round_id, item_id, identity.area_scope, lock=lock)
    if row is None:
        raise NotFound("No such round item in your area.")
    return row


async def _work_on(
    session: AsyncSession, identity: Identity, round_id: uuid.UUID, item_id: uuid.UUID, base_version: int
) -> tuple[RowMapping, RowMapping]:
    """The open round (share-locked, so closing waits for us) and the item (locked), at ``base_version``."""
    round_row = await get_round(session, identity, round_id, lock="share")
    if round_row["status"] != "open":
        raise Conflict(f"The {round_row['year']} round for {round_row['area_code']} is closed")
    item = await get_item(session, identity, round_id, item_id, lock=True)
    if base_version != item["version"]:
        raise Conflict(
            f"The item changed since version {base_version}; it is now version {item['version']}",
            current_version=item["version"],
        )
    return round_row, item


def _next(item: Mapping[Any, Any], action: ItemAction, **kwargs: Any) -> ItemState:
    state = ItemState(ItemStatus(item["status"]),
                      CloseOutcome(item["close_outcome"]) if item["close_outcome"] else None,
                      item["destination_area_code"])
    try:
        return rules.apply(state, action, **kwargs)
    except rules.InvalidTransition as exc:
        raise Conflict(str(exc)) from exc


async def _decide(
    session: AsyncSession, identity: Identity, item: Mapping[Any, Any], state: ItemState, *, action: str,
    reason: str | None, extra: Mapping[Any, Any] | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": state.status.value,
        "close_outcome": state.outcome.value if state.outcome else None,
        "destination_area_code": state.destination,
        "reason": reason,
        "decided_by": actor(identity),
        "decided_at": func.now(),
        "version": item["version"] + 1,
        **(extra or {}),
    }
    values.setdefault("deceased_on", None)
    await RoundItemRepository(session).update(item["id"], values)
    changes = {"status": {"from": item["status"], "to": state.status.value}}
    if state.outcome is not None:
        changes["outcome"] = {"from": item["close_outcome"], "to": state.outcome.value}
    await record_history(session, identity, "round_item", item["id"], action=action, version=item["version"] + 1,
                         changes=changes, reason=reason)


async def confirm_item(session: AsyncSession, identity: Identity, round_id: uuid.UUID, item_id: uuid.UUID,
                       body: ItemConfirm) -> RowMapping:
    _, item = await _work_on(session, identity, round_id, item_id, body.base_version)
    if item["household_status"] != "active":
        raise Conflict(f"The household is {item['household_status']}; close the item instead of confirming it")
    state = _next(item, ItemAction.CONFIRM)
    await _decide(session, identity, item, state, action="confirm", reason=body.note)
    return await get_item(session, identity, round_id, item_id)


async def edit_item(session: AsyncSession, identity: Identity, round_id: uuid.UUID, item_id: uuid.UUID,
                    body: ItemEdit) -> RowMapping:
    round_row, item = await _work_on(session, identity, round_id, item_id, body.base_version)
    state = _next(item, ItemAction.EDIT)
    hid = item["household_id"]
    await households.get_row(session, identity, hid)  # the household itself must be in the caller's scope
    entry = await _apply_edits(session, identity, round_row, hid, body)
    household = await households.get_row(session, identity, hid)
    entry |= {"at": datetime.now(timezone.utc).isoformat(), "by": actor(identity), "note": body.note,
              "household_version": household["version"]}
    await _decide(session, identity, item, state, action="edit", reason=body.note,
                  extra={"edits": [*item["edits"], entry], "area_code": household["area_code"]})
    # The household's own history points back to the round item that caused the change.
    await record_history(
        session, identity, "household", hid, action="round.edit", version=household["version"],
        changes={"round_item": {"from": None, "to": str(item["id"])}},
        reason=f"{round_row['year']} round {round_row['id']}" + (f": {body.note}" if body.note else ""),
    )
    return await get_item(session, identity, round_id, item_id)


async def _apply_edits(
    session: AsyncSession, identity: Identity, round_row: Mapping[Any, Any], hid: uuid.UUID, body: ItemEdit
) -> dict[str, Any]:
    """Each change through the household / person service; returns what changed, for the item's log."""
    entry: dict[str, Any] = {"persons": [], "members_added": [], "members_ended": [], "deaths": []}
    if body.household is not None:
        moved_to = body.household.area_code
        if moved_to is not None and not is_within(moved_to, round_row["area_code"]):
            raise ValidationProblem(
                "A household that left the round's area is closed as moved, not edited",
                errors=[{"field": "household.area_code", "reason": "outside the round's area"}],
            )
        await households.update(session, identity, hid, body.household)
        entry["household"] = sorted(body.household.model_dump(exclude_unset=True, exclude={"base_version"}))
    for i, edit in enumerate(body.persons):
        await _require_member(session, hid, edit.person_id, f"persons.{i}.person_id")
        fields = edit.model_dump(exclude_unset=True, exclude={"person_id"})
        row = await persons.update(session, identity, edit.person_id, PersonUpdate.model_validate(fields))
        entry["persons"].append({"id": str(row["id"]), "version": row["version"]})
    for added in body.add_members:
        await households.add_member(session, identity, hid, added)
        entry["members_added"].append(added.role)
    for i, ended in enumerate(body.end_members):
        await _require_member(session, hid, ended.person_id, f"end_members.{i}.person_id")
        await households.end_member(session, identity, hid, ended.person_id,
                                    MemberEnd(ended_on=ended.ended_on, reason=ended.reason))
        entry["members_ended"].append({"id": str(ended.person_id), "reason": ended.reason})
    for i, death in enumerate(body.deaths):
        await _require_member(session, hid, death.person_id, f"deaths.{i}.person_id")
        row = await persons.mark_deceased(session, identity, death.person_id, death.deceased_on, None)
        entry["deaths"].append({"id": str(row["id"]), "version": row["version"]})
    return entry


async def _require_member(session: AsyncSession, hid: uuid.UUID, person_id: uuid.UUID, field: str) -> None:
    member = await MembershipRepository(session).live_for_person(person_id)
    if member is None or member["household_id"] != hid:
        raise ValidationProblem("This person is not a current member of the household",
                                errors=[{"field": field, "reason": "not a member"}])


async def close_item(session: AsyncSession, identity: Identity, round_id: uuid.UUID, item_id: uuid.UUID,
                     body: ItemClose) -> RowMapping:
    round_row, item = await _work_on(session, identity, round_id, item_id, body.base_version)
    destination = body.destination_area_code
    if destination is not None:
        await _require_registered_area(session, destination, "destination_area_code")
        if is_within(destination, round_row["area_code"]):
            raise ValidationProblem(
                "A move inside the round's area is an edit of the household's area, not a closure",
                errors=[{"field": "destination_area_code", "reason": "inside the round's area"}],
            )
    state = _next(item, ItemAction.CLOSE, outcome=CloseOutcome(body.outcome), destination=destination)
    await _decide(session, identity, item, state, action="close", reason=body.reason,
                  extra={"deceased_on": body.deceased_on})
    return await get_item(session, identity, round_id, item_id)


async def reopen_item(session: AsyncSession, identity: Identity, round_id: uuid.UUID, item_id: uuid.UUID,
                      body: ItemReopen) -> RowMapping:
    roles.require(identity, rules.REOPEN_PERMISSION, doing="reopen a closed round item")
    _, item = await _work_on(session, identity, round_id, item_id, body.base_version)
    roles.require(identity, rules.REOPEN_PERMISSION, item["area_code"], doing="reopen a closed round item")
    state = _next(item, ItemAction.REOPEN)
    await _decide(session, identity, item, state, action="reopen", reason=body.reason)
    return await get_item(session, identity, round_id, item_id)


# ------------------------------------------------------------------------------------ coverage


def _area_coverage(area: str, counts: Mapping[str, int]) -> AreaCoverage:
    cov = rules.Coverage.from_counts(counts)
    return AreaCoverage(area_code=area, total=cov.total, pending=cov.pending, confirmed=cov.confirmed,
                        edited=cov.edited, closed=cov.closed, unreached=cov.unreached, coverage=cov.ratio)


def coverage_from_rows(round_id: uuid.UUID, area: str, rows: Sequence[Mapping[Any, Any]]) -> CoverageOut:
    """Coverage counts only carried-forward households; found ones are reported beside them."""
    overall: Counter[str] = Counter()
    children: dict[str, Counter[str]] = {}
    outcomes: Counter[str] = Counter()
    found = 0
    for row in rows:
        n = int(row["n"])
        if row["origin"] == "found":
            found += n
            continue
        overall[row["status"]] += n
        children.setdefault(rules.child_area(row["area_code"], area), Counter())[row["status"]] += n
        if row["close_outcome"]:
            outcomes[row["close_outcome"]] += n
    cov = rules.Coverage.from_counts(overall)
    return CoverageOut(
        **_area_coverage(area, overall).model_dump(), round_id=round_id, complete=cov.complete, found=found,
        outcomes={o.value: outcomes.get(o.value, 0) for o in CloseOutcome},
        by_child_area=[_area_coverage(code, counts) for code, counts in sorted(children.items())],
    )


def _report_area(identity: Identity, round_row: Mapping[Any, Any], area: str | None) -> str:
    """The asked area, else the round's area, else the caller's own part of it (a ward volunteer)."""
    round_area = round_row["area_code"]
    if area is None:
        if identity.can_access_area(round_area):
            return str(round_area)
        inside = sorted(s for s in identity.area_scope if is_within(s, round_area))
        area = inside[0] if inside else round_area
    if not is_within(area, round_area):
        raise ValidationProblem(f"Area {area} is not part of the round for {round_area}",
                                errors=[{"field": "area", "reason": "outside the round"}])
    identity.require_area(area)
    return area


async def coverage(session: AsyncSession, identity: Identity, round_id: uuid.UUID, area: str | None) -> CoverageOut:
    round_row = await get_round(session, identity, round_id)
    report_area = _report_area(identity, round_row, area)
    rows = await RoundItemRepository(session).counts(round_id, report_area, identity.area_scope)
    return coverage_from_rows(round_id, report_area, rows)


# ------------------------------------------------------------------------------------ figures and diff


async def population_table(session: AsyncSession, area: str, today: date) -> dict[str, dict[str, int]]:
    """Active persons by sex and age band, raw (suppression happens when published)."""
    bands = [(name, years_before(today, hi + 1), years_before(today, lo)) for name, lo, hi in AGE_BANDS]
    table: dict[str, dict[str, int]] = {s: {b[0]: 0 for b in AGE_BANDS} | {"unknown": 0} for s in SEXES}
    for row in await QueryRepository(session).population(area, [area], bands):
        table[row["sex"]][row["band"]] = int(row["n"])
    return table


def _cell(n: int, k: int) -> Cell:
    return Cell(value=None, suppressed=True) if 0 < n < k else Cell(value=n, suppressed=False)


def _change(now: dict[str, dict[str, Cell]], before: dict[str, dict[str, Cell]]) -> dict[str, dict[str, int | None]]:
    out: dict[str, dict[str, int | None]] = {}
    for sex, cols in now.items():
        out[sex] = {}
        for band, cell in cols.items():
            prev = before.get(sex, {}).get(band)
            both = prev is not None and cell.value is not None and prev.value is not None
            out[sex][band] = cell.value - prev.value if both else None  # type: ignore[operator, union-attr]
    return out


async def _figures(session: AsyncSession, round_row: Mapping[Any, Any]) -> dict[str, Any]:
    """The round's population and household figures: frozen at close, live while open."""
    if round_row["summary"] is not None:
        return dict(round_row["summary"])
    area = round_row["area_code"]
    table = await population_table(session, area, date.today())
    return {"as_of": date.today().isoformat(), "population": table,
            "households": await QueryRepository(session).household_count(area, [area])}


async def diff(session: AsyncSession, identity: Identity, round_id: uuid.UUID, k: int) -> RoundDiff:
    round_row = await get_round(session, identity, round_id)
    area = round_row["area_code"]
    if not identity.can_access_area(area):
        raise Forbidden("The diff covers the whole round area, which is outside your area scope.")
    items = RoundItemRepository(session)
    cov = coverage_from_rows(round_id, area, await items.counts(round_id, area, [area]))
    figures = await _figures(session, round_row)
    table = figures["population"]
    previous = await RoundRepository(session).previous_closed(area, round_row["year"])
    out: dict[str, Any] = {
        "round_id": round_id, "area_code": area, "year": round_row["year"], "k": k,
        "as_of": date.fromisoformat(figures["as_of"]),
        "households": _cell(int(figures["households"]), k),
        "population": _cell(sum(sum(c.values()) for c in table.values()), k),
        "households_moved": _cell(cov.outcomes["moved"], k),
        "households_closed": _cell(cov.outcomes["deceased"] + cov.outcomes["dissolved"], k),
        "by_sex_and_age": suppress(table, k),
        "previous_round_id": None, "previous_year": None, "households_added": None, "persons_added": None,
        "persons_deceased": None, "previous_by_sex_and_age": None, "change_by_sex_and_age": None,
    }
    if previous is not None:
        out |= await _against(session, round_row, previous, k, out["by_sex_and_age"])
    return RoundDiff(**out)


async def _against(
    session: AsyncSession, round_row: Mapping[Any, Any], previous: Mapping[Any, Any], k: int,
    now_cells: dict[str, dict[str, Cell]],
) -> dict[str, Any]:
    area, since, until = round_row["area_code"], previous["closed_at"], round_row["closed_at"]
    people = RoundPersonRepository(session)
    added = await RoundItemRepository(session).households_added(
        round_row["id"], previous["id"], area, live=round_row["status"] == "open"
    )
    before = suppress((previous["summary"] or {}).get("population", {}), k)
    return {
        "previous_round_id": previous["id"], "previous_year": previous["year"],
        "households_added": _cell(added, k),
        "persons_added": _cell(await people.added(area, since, until), k),
        "persons_deceased": _cell(await people.deceased(area, since, until), k),
        "previous_by_sex_and_age": before,
        "change_by_sex_and_age": _change(now_cells, before),
    }


# ------------------------------------------------------------------------------------ closing


async def close_round(session: AsyncSession, identity: Identity, round_id: uuid.UUID, body: RoundClose) -> RowMapping:
    roles.require(identity, rules.ROUND_PERMISSION, doing="close a revision round")
    round_row = await get_round(session, identity, round_id, lock="update")
    area = round_row["area_code"]
    identity.require_area(area, hide=False)
    roles.require(identity, rules.ROUND_PERMISSION, area, doing="close a revision round")
    if round_row["status"] != "open":
        raise Conflict(f"The {round_row['year']} round for {area} is already closed")
    if body.base_version is not None and body.base_version != round_row["version"]:
        raise Conflict(f"The round is now version {round_row['version']}", current_version=round_row["version"])
    items = RoundItemRepository(session)
    pending = coverage_from_rows(round_id, area, await items.counts(round_id, area, [area])).pending
    if pending and not body.force:
        raise Conflict(
            f"{pending} household(s) are still pending; finish them or close with force and a reason",
            pending=pending,
        )
    who = actor(identity)
    if pending:
        assert body.reason is not None  # the schema requires a reason with force
        await items.mark_unreached(round_id, body.reason, who)
    await items.sweep_found(round_id, area, who)
    for item in await items.closures_to_apply(round_id):
        await _apply_closure(session, identity, item)
        await items.update(item["id"], {"applied_at": func.now()})
    cov = coverage_from_rows(round_id, area, await items.counts(round_id, area, [area]))
    summary = {**(await _figures(session, {**round_row, "summary": None})), "coverage": cov.model_dump(mode="json")}
    new = await RoundRepository(session).update(round_id, {
        "status": "closed", "closed_by": who, "closed_at": func.clock_timestamp(), "close_reason": body.reason,
        "forced": bool(pending), "summary": summary, "version": round_row["version"] + 1,
    })
    await cancel(session, SERVICE, kind=OVERDUE_JOB, key=str(round_id))
    await record_history(session, identity, "round", round_id, action="close", version=new["version"],
                         changes={"status": {"from": "open", "to": "closed"}}, reason=body.reason)
    await events.publish(session, _closed_event(new, cov))
    return new


def _closed_event(row: Mapping[Any, Any], cov: CoverageOut) -> RoundClosed:
    return RoundClosed(
        round_id=row["id"], area_code=row["area_code"], year=row["year"], closed_by=row["closed_by"],
        forced=row["forced"], reason=row["close_reason"], households_total=cov.total, confirmed=cov.confirmed,
        edited=cov.edited, closed=cov.closed, unreached=cov.unreached, found=cov.found,
        moved=cov.outcomes["moved"], deceased=cov.outcomes["deceased"], dissolved=cov.outcomes["dissolved"],
        coverage=cov.coverage,
        by_child_area=[RoundAreaCoverage(area_code=c.area_code, total=c.total, reached=c.confirmed + c.edited
                                         + c.closed, coverage=c.coverage) for c in cov.by_child_area],
    )


async def _apply_closure(session: AsyncSession, identity: Identity, item: Mapping[Any, Any]) -> None:
    """Make a recorded closure official, through the household and person services."""
    hid = item["household_id"]
    household = await HouseholdRepository(session).get(hid, [item["area_code"]], lock=True)
    if household is None or household["status"] != "active":
        return  # already closed or moved out by another path: nothing left to apply
    outcome = CloseOutcome(item["close_outcome"])
    if outcome is CloseOutcome.MOVED:
        await _apply_move(session, identity, household, item)
        return
    if outcome is CloseOutcome.DECEASED:
        day = item["deceased_on"] or date.today()
        for member in await HouseholdRepository(session).members(hid):
            if member["status"] == "active":
                died = max(day, member["birth_date"]) if member["birth_date"] else day
                await persons.mark_deceased(session, identity, member["id"], died, None)
    else:
        for member in await HouseholdRepository(session).members(hid):
            ended = max(date.today(), member["started_on"])
            await households.end_member(session, identity, hid, member["id"],
                                        MemberEnd(ended_on=ended, reason="other"))
    current = await households.get_row(session, identity, hid, lock=True)
    await households.update(session, identity, hid, HouseholdUpdate(base_version=current["version"], status="closed"),
                            row=current)


async def _apply_move(
    session: AsyncSession, identity: Identity, household: Mapping[Any, Any], item: Mapping[Any, Any]
) -> None:
    destination = item["destination_area_code"]
    if destination is not None:
        # The officer closing the round hands the household over to the destination, whose own
        # round confirms it (the move makes its survey record 'collected' again).
        handover = identity.model_copy(update={"area_scope": [*identity.area_scope, destination]})
        await households.update(session, handover, household["id"],
                                HouseholdUpdate(base_version=household["version"], area_code=destination),
                                row=household)
        return
    # Gone, destination unknown: the household leaves the register as 'moved'.
    new = await HouseholdRepository(session).update(
        household["id"], {"status": "moved", "version": household["version"] + 1, "updated_by": actor(identity)}
    )
    await record_history(session, identity, "household", new["id"], action="moved_out", version=new["version"],
                         changes={"status": {"from": household["status"], "to": "moved"}}, reason=item["reason"])
    await events.household_updated(session, new, ["status"])


# ------------------------------------------------------------------------------------ overdue job


async def flag_overdue(session: AsyncSession, job: Job) -> None:
    """Past its due date and still open: flag the round and leave an audit entry with its coverage."""
    round_id = uuid.UUID(str(job.payload["round_id"]))
    row = await RoundRepository(session).get(round_id, ["IN", "BD"], lock="update")
    if row is None or row["status"] != "open" or row["overdue_at"] is not None:
        return
    area = row["area_code"]
    cov = coverage_from_rows(round_id, area, await RoundItemRepository(session).counts(round_id, area, [area]))
    await RoundRepository(session).update(round_id, {"overdue_at": job.due_at})
    await AuditRepository(session).record([{
        "actor": "system:scheduler", "action": "round.overdue", "record_type": "round", "record_id": str(round_id),
        "purpose": "round past its due date",
        "details": {"area_code": area, "year": row["year"], "due_on": str(row["due_on"]), "pending": cov.pending,
                    "coverage": cov.coverage},
    }])


JOBS = {OVERDUE_JOB: flag_overdue}
