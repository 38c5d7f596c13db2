"""The matcher on the registry's own records, at the moment one is written.

Every path that creates or edits a person (API, survey approval, offline sync) already calls
``duplicates_detect.after_person_change``; that now also runs ``check``: candidates come from SQL
(shared identifier hash or phone, or shared phonetic name tokens in the same union/gram panchayat),
each is compared with the person by the Fellegi-Sunter model (the newest one a batch run stored, or
the packaged default), and a pair at or above the operating threshold joins the duplicates queue as
``probable_match`` with every compared field's level and weight, and is announced as
``registry.person.duplicate_linked.v1`` (``suspected``).  A pair a reviewer dismissed never returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.repository.matching import MatchingRepository
from services.registry.repository.persons import IdentifierRepository
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD, Scorer, explain, pack
from services.registry.rules.matching.fellegi_sunter import Model
from services.registry.rules.matching.names import is_honorific
from services.registry.rules.matching.table import TableBuilder
from services.registry.rules.names import name_tokens
from services.registry.service.matching.models import current_model

ID_COLUMNS = {"aadhaar": "aadhaar", "bd_brn": "brn"}
CHECK_SECONDS = Histogram(
    "gramsetu_registry_match_check_seconds", "One written person checked by the matcher (candidates, scoring)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CANDIDATES = Counter("gramsetu_registry_match_candidates_total", "Records the matcher's SQL blocking proposed")
FLAGGED = Counter("gramsetu_registry_match_flagged_total",
                  "Pairs the matcher queued as probable matches, by mode (incremental, import, batch)", ["mode"])


@dataclass(frozen=True)
class Scored:
    other: Mapping[Any, Any]
    probability: float
    fields: list[dict[str, object]]
    pattern: int | None = None  # the levels packed into one number: what reviewers' decisions are counted by
    model_version: int = 0

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"match_probability": round(self.probability, 6), "fields": self.fields}
        if self.pattern is not None:
            out |= {"pattern": self.pattern, "model_version": self.model_version}
        return out


def scored(model: Model, other: Mapping[Any, Any], probability: float, levels: Any) -> Scored:
    """A pair's score as the queue keeps it: probability, fields with weights, pattern, model version."""
    return Scored(other, probability, explain(model, levels), int(pack(np.asarray([levels]))[0]), model.version)


def record(row: Mapping[Any, Any], idents: Sequence[Mapping[Any, Any]]) -> tuple[dict[str, str | None], dict[str, str]]:
    """A registry person as the matcher reads it; identifiers by their keyed hash (never the value)."""
    keys: dict[str, str] = {}
    for ident in idents:
        if ident["id_type"] == "bd_nid":
            keys["nid10" if ident["form"] == "nid10" else "nid13"] = ident["lookup_hash"]
        elif ident["id_type"] in ID_COLUMNS:
            keys[ID_COLUMNS[ident["id_type"]]] = ident["lookup_hash"]
    phones = list(row.get("phones") or [])
    estimated = bool(row.get("birth_date_estimated"))
    return {
        "record_id": str(row["id"]),
        "given_name": row["full_name"],
        "guardian_name": row.get("father_name") or "",
        "guardian_relation": "father" if row.get("father_name") else "",
        "sex": row["sex"] if row["sex"] in ("female", "male") else "",
        "dob": row["birth_date"].isoformat() if row.get("birth_date") and not estimated else "",
        "birth_year": str(row["birth_year"]) if row.get("birth_year") and (estimated or not row.get("birth_date"))
        else "",
        "area_code": row["area_code"],
        "phone": phones[0] if phones else "",
        "household": str(row["household_id"]) if row.get("household_id") else "",
    }, keys


def query_tokens(full_name: str) -> list[str]:
    """The registry's phonetic tokens of the name without any honorific (Bibi and Devi included)."""
    kept = [part for part in full_name.split() if not is_honorific(part)]
    return name_tokens(" ".join(kept)) if kept else []


def score(model: Model, person: Mapping[Any, Any], others: Sequence[Mapping[Any, Any]],
          idents: Mapping[Any, Sequence[Mapping[Any, Any]]]) -> list[Scored]:
    """``person`` against each of ``others``, exactly as a batch run with ``model`` scores a pair."""
    builder = TableBuilder()
    for row in (person, *others):
        builder.add(*record(row, idents.get(row["id"], [])))
    table = builder.build()
    left, right = np.zeros(len(others), dtype=np.int64), np.arange(1, len(others) + 1, dtype=np.int64)
    levels, prob = Scorer(model, table.vocab.strings).score(table, left, table, right)
    return [scored(model, o, float(p), lv) for o, p, lv in zip(others, prob, levels, strict=True)]


async def candidates(session: AsyncSession, person: Mapping[Any, Any],
                     idents: Sequence[Mapping[Any, Any]]) -> list[Mapping[Any, Any]]:
    repo = MatchingRepository(session)
    near = "-".join(person["area_code"].split("-")[:-1]) or person["area_code"]
    ids = await repo.sharing_identifier(person, [i["lookup_hash"] for i in idents])
    ids += await repo.sharing_name(person, query_tokens(person["full_name"]), near)
    return await with_households(session, await repo.persons(sorted(set(ids)))) if ids else []


async def with_households(session: AsyncSession, rows: Sequence[Mapping[Any, Any]]) -> list[Mapping[Any, Any]]:
    """Person rows with the household each lives in now (``household_id``), the matcher's household field."""
    found = await MatchingRepository(session).households([r["id"] for r in rows])
    return [{**r, "household_id": found.get(r["id"])} for r in rows]


async def check(session: AsyncSession, person: Mapping[Any, Any], threshold: float = DEFAULT_THRESHOLD) -> list[Scored]:
    """Scored candidates of ``person`` at or above ``threshold``, best first."""
    with CHECK_SECONDS.time():
        return await _check(session, person, threshold)


async def _check(session: AsyncSession, person: Mapping[Any, Any], threshold: float) -> list[Scored]:
    idents_repo = IdentifierRepository(session)
    own = await idents_repo.for_persons([person["id"]])
    if "household_id" not in person:
        person = (await with_households(session, [person]))[0]
    others = await candidates(session, person, own)
    CANDIDATES.inc(len(others))
    if not others:
        return []
    by_person: dict[Any, list[Mapping[Any, Any]]] = {person["id"]: list(own)}
    for ident in await idents_repo.for_persons([o["id"] for o in others]):
        by_person.setdefault(ident["person_id"], []).append(ident)
    scored = score(await current_model(session), person, others, by_person)
    return sorted((s for s in scored if s.probability >= threshold), key=lambda s: -s.probability)


async def explain_pair(session: AsyncSession, a: Mapping[Any, Any], b: Mapping[Any, Any]) -> Scored:
    """The model's view of one pair (for pairs other rules queued)."""
    idents = await IdentifierRepository(session).for_persons([a["id"], b["id"]])
    by_person: dict[Any, list[Mapping[Any, Any]]] = {}
    for ident in idents:
        by_person.setdefault(ident["person_id"], []).append(ident)
    a, b = await with_households(session, [a, b])
    return score(await current_model(session), a, [b], by_person)[0]
