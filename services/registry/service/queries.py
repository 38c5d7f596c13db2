"""Queries: lookup by identifier, name search, priority lists (JSON/CSV), the age check and
k-anonymous statistics."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import NotFound, ValidationProblem
from services.registry.repository.duplicates import DuplicateRepository
from services.registry.repository.persons import IdentifierRepository, PersonRepository
from services.registry.repository.queries import QueryRepository
from services.registry.rules.ages import AgeEvidence, Answer, age_on, check_legal_age
from services.registry.rules.identifiers import mask
from services.registry.rules.names import name_tokens
from services.registry.schemas.identifiers import LookupRequest
from services.registry.schemas.persons import PersonSummary
from services.registry.schemas.queries import (
    AgeCheckOut,
    AgeCheckRequest,
    Cell,
    Coverage,
    PriorityEntry,
    PriorityList,
    Statistics,
)
from services.registry.service import identifiers
from services.registry.service.common import audit, group_identifiers, person_summary, region_of
from services.registry.service.lookup import area_hint
from services.registry.settings import get_registry_settings

ID_LABELS = {"bd_brn": "BRN", "bd_nid": "17-digit NID"}


def _require_area(identity: Identity, area: str) -> None:
    identity.require_area(area)


async def _holders(session: AsyncSession, identity: Identity, body: LookupRequest, area_hint: str) -> list[Any]:
    parsed = identifiers.parse_or_problem(body.type, body.value, area_code=area_hint, field="value")
    digest = identifiers.lookup_hash(parsed.id_type.value, parsed.match_key)
    nid17_year = parsed.birth_year if parsed.form == "nid17" else None
    ids = await IdentifierRepository(session).holders(parsed.id_type.value, digest, nid17_year=nid17_year)
    repo = PersonRepository(session)
    rows = [await repo.get(pid, identity.area_scope) for pid in ids]
    return [r for r in rows if r is not None]


# POST /persons/lookup itself is service/lookup.py (one audited statement on the hot path).


async def search(
    session: AsyncSession, identity: Identity, area: str, name: str, purpose: str, *, limit: int, offset: int
) -> tuple[list[PersonSummary], int]:
    _require_area(identity, area)
    tokens = name_tokens(name)
    if not tokens:
        raise ValidationProblem("The name has no searchable letters", errors=[{"field": "name", "reason": "empty"}])
    rows, total = await PersonRepository(session).search(identity.area_scope, area, tokens, limit=limit, offset=offset)
    ids = group_identifiers(await IdentifierRepository(session).for_persons([r["id"] for r in rows]))
    await audit(session, identity, "person", [r["id"] for r in rows], action="search", purpose=purpose)
    return [person_summary(r, ids.get(r["id"], [])) for r in rows], total


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# ------------------------------------------------------------------------------------ priority list


def _priority_reasons(row: Mapping[Any, Any], today: date) -> tuple[list[str], int | None]:
    age = age_on(row["birth_date"], today) if row["birth_date"] else None
    reasons: list[str] = []
    if age is not None and age >= 60:
        reasons.append("elderly")
    if row["disability"]:
        reasons.append("disability")
    if row["pregnant"]:
        reasons.append("pregnant")
    if age is not None and age < 5:
        reasons.append("under_five")
    if row["single_woman_head"]:
        reasons.append("single_woman_head")
    return reasons, age


async def priority_list(
    session: AsyncSession, identity: Identity, area: str, purpose: str, *, categories: set[str] | None = None
) -> tuple[PriorityList, bool]:
    _require_area(identity, area)
    today = date.today()
    limit = get_registry_settings().export_max_rows
    rows = await QueryRepository(session).priority_candidates(
        area,
        identity.area_scope,
        elderly_born_before=years_before(today, 60),
        child_born_after=years_before(today, 5),
        limit=limit + 1,
    )
    truncated = len(rows) > limit
    items: list[PriorityEntry] = []
    counts: dict[str, int] = {}
    for row in rows[:limit]:
        reasons, age = _priority_reasons(row, today)
        if categories:
            reasons = [r for r in reasons if r in categories]
        if not reasons:
            continue
        for r in reasons:
            counts[r] = counts.get(r, 0) + 1
        items.append(
            PriorityEntry(
                household_id=row["household_id"],
                address=row["address"],
                person_id=row["id"],
                full_name=row["full_name"],
                sex=row["sex"],
                age=age,
                age_estimated=bool(row["birth_date_estimated"]),
                reasons=reasons,  # type: ignore[arg-type]
                phones_masked=[mask(p) for p in row["phones"]],
            )
        )
    await audit(
        session,
        identity,
        "person",
        [i.person_id for i in items],
        action="priority_list",
        purpose=purpose,
        details={"area": area},
    )
    return PriorityList(area_code=area, as_of=today, counts=counts, items=items), truncated


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def priority_csv(result: PriorityList) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        ["household_id", "address", "person_id", "full_name", "sex", "age", "age_estimated", "reasons", "phones_masked"]
    )
    for i in result.items:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    i.household_id,
                    i.address,
                    i.person_id,
                    i.full_name,
                    i.sex,
                    i.age,
                    i.age_estimated,
                    ";".join(i.reasons),
                    ";".join(i.phones_masked),
                )
            ]
        )
    return buf.getvalue()


# ------------------------------------------------------------------------------------ age check


async def age_check(session: AsyncSession, identity: Identity, body: AgeCheckRequest, purpose: str) -> AgeCheckOut:
    today = date.today()
    if body.identifier is not None:
        rows = await _holders(session, identity, body.identifier, area_hint(identity, body.identifier))
    else:
        assert body.person_id is not None
        found = await PersonRepository(session).get(body.person_id, identity.area_scope)
        rows = [found] if found is not None else []
    rows = [await _follow_merge(session, identity, r) for r in rows]
    rows = [r for r in rows if r is not None]
    if not rows:
        raise NotFound("No person with this identifier in your area.")
    answers: list[tuple[Answer, int | None, list[str]]] = []
    for row in rows:
        answers.append(await _age_answer(session, row, today))
    await audit(session, identity, "person", [r["id"] for r in rows], action="age_check", purpose=purpose)
    if len({a for a, _, _ in answers}) > 1:
        evidence = ["several records hold this identifier and disagree; resolve the duplicates first"]
        return AgeCheckOut(answer="unknown", legal_age=answers[0][1], evidence=evidence, checked_on=today)
    answer, legal, evidence = answers[0]
    if len(rows) > 1:
        evidence.append(f"{len(rows)} records hold this identifier (possible duplicate)")
    return AgeCheckOut(answer=answer.value, legal_age=legal, evidence=evidence, checked_on=today)


async def _follow_merge(session: AsyncSession, identity: Identity, row: Mapping[Any, Any]) -> Any:
    if row["status"] == "merged" and row["merged_into"] is not None:
        return await PersonRepository(session).get(row["merged_into"], identity.area_scope)
    return row


async def _age_answer(
    session: AsyncSession, row: Mapping[Any, Any], today: date
) -> tuple[Answer, int | None, list[str]]:
    ids = await IdentifierRepository(session).for_persons([row["id"]])
    from_id = next((i for i in ids if i["birth_year"] is not None and i["id_type"] == "bd_brn"), None) or next(
        (i for i in ids if i["birth_year"] is not None), None
    )
    evidence = AgeEvidence(
        birth_date=row["birth_date"],
        estimated=bool(row["birth_date_estimated"]),
        source=row["birth_date_source"] or "self_declared",
        id_birth_year=from_id["birth_year"] if from_id else None,
        id_source=ID_LABELS.get(from_id["id_type"], from_id["id_type"]) if from_id else None,
    )
    if row["sex"] not in ("female", "male"):
        return Answer.UNKNOWN, None, [f"sex recorded as {row['sex']}: no legal age applies", evidence.describe()]
    answer, legal = check_legal_age(evidence, country=region_of(row["area_code"]), sex=row["sex"], today=today)
    notes = [evidence.describe()]
    if from_id and row["birth_date"] and not row["birth_date_estimated"]:
        notes.append(f"consistent with the {evidence.id_source} year prefix")
    reregistration = [
        d
        for d in await DuplicateRepository(session).open_for(row["id"])
        if d["reason"] == "same_name_parents_birth_year"
    ]
    if reregistration and answer is not Answer.NO:
        notes.append("an open possible re-registration with a different birth year is under review")
        answer = Answer.UNKNOWN
    return answer, legal, notes


# ------------------------------------------------------------------------------------ statistics

AGE_BANDS = (("0-4", 0, 4), ("5-17", 5, 17), ("18-59", 18, 59), ("60+", 60, 150))
SEXES = ("female", "male", "other", "unknown")


def suppress(table: dict[str, dict[str, int]], k: int) -> dict[str, dict[str, Cell]]:
    """Hide counts 1..k-1, then hide one more cell in any row or column left with a single hidden
    cell, so it cannot be recovered from the published totals (complementary suppression)."""
    hidden = {(r, c) for r, cols in table.items() for c, n in cols.items() if 0 < n < k}
    changed = True
    while changed:
        changed = False
        lines = [[(r, c) for c in table[r]] for r in table]
        columns = {c for cols in table.values() for c in cols}
        lines += [[(r, c) for r in table if c in table[r]] for c in columns]
        for line in lines:
            mine = [cell for cell in line if cell in hidden]
            if len(mine) == 1:
                # A zero may be hidden too: it is what leaves the lone small cell ambiguous.
                others = sorted((table[r][c], (r, c)) for r, c in line if (r, c) not in hidden)
                if others:
                    hidden.add(others[0][1])
                    changed = True
    return {
        r: {c: Cell(value=None if (r, c) in hidden else n, suppressed=(r, c) in hidden) for c, n in cols.items()}
        for r, cols in table.items()
    }


def _single(n: int, k: int) -> Cell:
    return Cell(value=None, suppressed=True) if 0 < n < k else Cell(value=n, suppressed=False)


async def statistics(session: AsyncSession, identity: Identity, area: str, k: int) -> Statistics:
    _require_area(identity, area)
    today = date.today()
    bands = [(name, years_before(today, hi + 1), years_before(today, lo)) for name, lo, hi in AGE_BANDS]
    repo = QueryRepository(session)
    table: dict[str, dict[str, int]] = {s: {b[0]: 0 for b in AGE_BANDS} | {"unknown": 0} for s in SEXES}
    for row in await repo.population(area, identity.area_scope, bands):
        table[row["sex"]][row["band"]] = int(row["n"])
    population = sum(sum(cols.values()) for cols in table.values())
    households = await repo.household_count(area, identity.area_scope)
    coverage = await repo.identifier_coverage(area, identity.area_scope)
    cells = suppress(table, k)
    out_coverage = {}
    for id_type in ("aadhaar", "bd_nid", "bd_brn", "ration_card", "voter_id", "phone"):
        n = coverage.get(id_type, 0)
        cell = _single(n, k)
        share = round(n / population, 3) if population and not cell.suppressed else None
        out_coverage[id_type] = Coverage(persons=cell, share=share)
    return Statistics(
        area_code=area,
        k=k,
        households=_single(households, k),
        population=_single(population, k),
        by_sex_and_age=cells,
        identifier_coverage=out_coverage,
    )
