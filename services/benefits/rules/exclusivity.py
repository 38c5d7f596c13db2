"""Exclusivity rules (data) and the double-dipping check they drive.

``{"per_person": true, "per_household": false, "not_with": ["BD-WIDOW"]}``:
- per_person: at most one grant of this scheme per *human* per period, where a human is every
  registry record linked to it (merged, or held as duplicates by the registry);
- per_household: at most one grant of this scheme per household per period;
- not_with: no grant of any of these schemes to the same human (household, for household schemes)
  in an overlapping period.
A grant that was reversed or recovered no longer counts.  Periods of different frequencies are
compared by their date ranges.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.benefits.rules.periods import overlaps


class Exclusivity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_person: bool = True
    per_household: bool = False
    not_with: list[str] = Field(default_factory=list, max_length=20)


class Policy(BaseModel):
    """What posting does with an entry that breaks a rule, or whose person benefits does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_conflict: Literal["reject", "hold"] = "hold"
    unknown_person: Literal["reject", "hold"] = "hold"


@dataclass(frozen=True)
class Grant:
    """A live grant already in the ledger (or earlier in the same batch)."""

    id: uuid.UUID
    scheme_code: str
    person_id: uuid.UUID | None
    household_id: uuid.UUID | None
    start: date
    end: date


@dataclass(frozen=True)
class Candidate:
    scheme_code: str
    beneficiary: str  # person or household
    persons: frozenset[uuid.UUID]  # every record of the same human (empty when unknown)
    household_id: uuid.UUID | None
    start: date
    end: date


@dataclass(frozen=True)
class Conflict:
    rule: Literal["per_person", "per_household", "not_with"]
    other_entry_ids: tuple[uuid.UUID, ...]


def _same_subject(candidate: Candidate, grant: Grant) -> bool:
    if candidate.beneficiary == "household":
        return candidate.household_id is not None and grant.household_id == candidate.household_id
    return grant.person_id is not None and grant.person_id in candidate.persons


class GrantIndex:
    """Live grants by person and by household, so a check looks only at its own subject's grants
    (a batch of thousands stays linear)."""

    def __init__(self, grants: Iterable[Grant] = ()) -> None:
        self.by_person: dict[uuid.UUID, list[Grant]] = {}
        self.by_household: dict[uuid.UUID, list[Grant]] = {}
        for grant in grants:
            self.add(grant)

    def add(self, grant: Grant) -> None:
        if grant.person_id is not None:
            self.by_person.setdefault(grant.person_id, []).append(grant)
        if grant.household_id is not None:
            self.by_household.setdefault(grant.household_id, []).append(grant)

    def near(self, candidate: Candidate) -> list[Grant]:
        found: dict[uuid.UUID, Grant] = {}
        for pid in candidate.persons:
            found.update((g.id, g) for g in self.by_person.get(pid, ()))
        if candidate.household_id is not None:
            found.update((g.id, g) for g in self.by_household.get(candidate.household_id, ()))
        return list(found.values())


def conflicts(candidate: Candidate, rules: Exclusivity, grants: Iterable[Grant] | GrantIndex) -> list[Conflict]:
    """Which rules the candidate breaks against these live grants, with the grants as evidence."""
    if isinstance(grants, GrantIndex):
        grants = grants.near(candidate)
    span = (candidate.start, candidate.end)
    found: dict[str, list[uuid.UUID]] = {}
    for grant in grants:
        if not overlaps(span, (grant.start, grant.end)):
            continue
        if grant.scheme_code == candidate.scheme_code:
            if rules.per_person and _same_subject(candidate, grant):
                found.setdefault("per_person", []).append(grant.id)
            elif (rules.per_household and candidate.household_id is not None
                  and grant.household_id == candidate.household_id):
                found.setdefault("per_household", []).append(grant.id)
        elif grant.scheme_code in rules.not_with and _same_subject(candidate, grant):
            found.setdefault("not_with", []).append(grant.id)
    return [Conflict(rule, tuple(sorted(ids))) for rule, ids in sorted(found.items())]  # type: ignore[arg-type]
