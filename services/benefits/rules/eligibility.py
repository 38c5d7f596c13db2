"""Eligibility rules as data, evaluated over the facts benefits keeps from the registry.

A rule is a tree: ``{"all": [...]}`` or ``{"any": [...]}`` of conditions
``{"attr": "age", "op": "ge", "value": 60}`` (and nested groups).  ``{"all": []}`` means everyone
in the scheme's areas.  A condition on a fact the copy does not hold for this person (no birth date
or year, marital status not recorded) is *unknown*: it never makes a person eligible, and the
answer names the facts that were missing so field staff know what to ask.

The same tree compiles to SQL for whole areas (``repository/coverage.py``);
``tests/benefits/test_eligibility_sql.py`` checks that both give the same three-valued answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kernel.areas import is_within_any

ATTRIBUTES: dict[str, tuple[str, frozenset[str]]] = {
    # attribute: (value kind, allowed operators)
    "age": ("int", frozenset({"eq", "ne", "lt", "le", "gt", "ge"})),
    "sex": ("str", frozenset({"eq", "ne", "in", "not_in"})),
    "disabled": ("bool", frozenset({"eq"})),
    "disability": ("str", frozenset({"eq", "ne", "in", "not_in"})),
    "pregnant": ("bool", frozenset({"eq"})),
    "marital_status": ("str", frozenset({"eq", "ne", "in", "not_in"})),
    "household_size": ("int", frozenset({"eq", "ne", "lt", "le", "gt", "ge"})),
    "income_band": ("str", frozenset({"eq", "ne", "in", "not_in"})),
    "area": ("str", frozenset({"within"})),
}
Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "within"]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attr: str = Field(description="One of: " + ", ".join(ATTRIBUTES))
    op: Op
    value: int | bool | str | list[str]

    @model_validator(mode="after")
    def _fits_attribute(self) -> Condition:
        if self.attr not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {self.attr!r}; known: {', '.join(ATTRIBUTES)}")
        kind, ops = ATTRIBUTES[self.attr]
        if self.op not in ops:
            raise ValueError(f"{self.attr} allows operators {', '.join(sorted(ops))}")
        listy = self.op in ("in", "not_in", "within")
        ok = {
            "int": isinstance(self.value, int) and not isinstance(self.value, bool) and 0 <= self.value <= 200,
            "bool": isinstance(self.value, bool),
            "str": isinstance(self.value, list) if listy else isinstance(self.value, str),
        }[kind]
        if not ok or (listy and not (1 <= len(self.value) <= 50)):  # type: ignore[arg-type]
            raise ValueError(f"{self.attr} {self.op} needs a {'list of 1-50 texts' if listy else kind} value")
        return self


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[Condition | Group] | None = Field(default=None, max_length=30)
    any: list[Condition | Group] | None = Field(default=None, max_length=30)

    @model_validator(mode="after")
    def _one_kind(self) -> Group:
        if (self.all is None) == (self.any is None):
            raise ValueError("a group has exactly one of 'all' or 'any'")
        return self

    @property
    def children(self) -> list[Condition | Group]:
        return list(self.all if self.all is not None else self.any or [])


def parse_rule(data: dict[str, Any]) -> Group:
    rule = Group.model_validate(data)
    if _depth(rule) > 4:
        raise ValueError("eligibility rules nest at most 4 groups deep")
    return rule


def _depth(group: Group) -> int:
    return 1 + max((_depth(c) for c in group.children if isinstance(c, Group)), default=0)


@dataclass(frozen=True)
class Facts:
    """What the registry copy knows of a person (None: not known)."""

    age: int | None
    sex: str | None
    disability: str | None
    pregnant: bool | None
    marital_status: str | None
    household_size: int | None
    income_band: str | None
    area: str


@dataclass
class Verdict:
    eligible: bool
    unknown: list[str] = field(default_factory=list)  # facts missing for a decisive answer


def age_on(birth_date: date | None, birth_year: int | None, on: date) -> int | None:
    if birth_date is not None:
        return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    if birth_year is not None:
        return on.year - birth_year
    return None


def _fact(facts: Facts, attr: str) -> Any:
    if attr == "disabled":
        return facts.disability is not None and facts.disability != ""
    if attr == "area":
        return facts.area
    return getattr(facts, attr)


def _compare(op: str, have: Any, want: Any) -> bool:
    match op:
        case "eq":
            return bool(have == want)
        case "ne":
            return bool(have != want)
        case "lt":
            return bool(have < want)
        case "le":
            return bool(have <= want)
        case "gt":
            return bool(have > want)
        case "ge":
            return bool(have >= want)
        case "in":
            return have in want
        case "not_in":
            return have not in want
        case "within":
            return is_within_any(have, list(want))
    raise ValueError(op)


def _evaluate(node: Condition | Group, facts: Facts, unknown: set[str]) -> bool | None:
    """True, False, or None when the answer depends on a fact we do not have (three-valued logic)."""
    if isinstance(node, Condition):
        have = _fact(facts, node.attr)
        if have is None:
            unknown.add(node.attr)
            return None
        return _compare(node.op, have, node.value)
    results = [_evaluate(c, facts, unknown) for c in node.children]
    if node.all is not None:
        return False if False in results else (None if None in results else True)
    return True if True in results else (None if None in results else False)


def evaluate(rule: Group, facts: Facts) -> Verdict:
    unknown: set[str] = set()
    result = _evaluate(rule, facts, unknown)
    return Verdict(eligible=result is True, unknown=sorted(unknown) if result is None else [])
