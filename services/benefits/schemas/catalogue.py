"""Departments, schemes and rule versions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.benefits.rules.eligibility import parse_rule
from services.benefits.rules.exclusivity import Exclusivity, Policy
from services.benefits.schemas.common import AreaCode, Code, Names, OptText500, names_ok

Poster = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@:\-]{1,100}$")]


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"code": "BD-DSS", "country": "BD", "names": {"en": "Department of Social Services", "bn": "সমাজসেবা অধিদফতর"},
         "posters": ["cl_5e1f0a9b7c3d2e10", "uso.tala"]},
        {"code": "IN-MP-WCD", "country": "IN",
         "names": {"en": "Women and Child Development, Madhya Pradesh", "hi": "महिला एवं बाल विकास विभाग, मध्य प्रदेश"}},
    ]})

    code: Code
    country: Literal["IN", "BD"]
    names: Names
    posters: list[Poster] = Field(default_factory=list, max_length=100,
                                  description="Client ids or operator subjects that post for this department")

    _names = field_validator("names")(names_ok)


class DepartmentOut(BaseModel):
    code: str
    country: str
    names: dict[str, str]
    created_at: datetime
    posters: list[str] = Field(default_factory=list)


class PostersIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"posters": ["cl_5e1f0a9b7c3d2e10", "uso.tala", "uso.shyamnagar"]}]})

    posters: list[Poster] = Field(max_length=100)


class RulesIn(BaseModel):
    """A scheme's rules.  Posting a new set makes a new version; entries keep the version they were decided under."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "eligibility": {"all": [{"attr": "age", "op": "ge", "value": 65}]},
        "exclusivity": {"per_person": True, "not_with": ["BD-WIDOW"]},
        "policy": {"on_conflict": "hold", "unknown_person": "hold"}, "note": "2026 circular"}]})

    eligibility: dict[str, Any] = Field(default_factory=lambda: {"all": []})
    exclusivity: Exclusivity = Field(default_factory=Exclusivity)
    policy: Policy = Field(default_factory=Policy)
    note: OptText500 = None

    @field_validator("eligibility")
    @classmethod
    def _eligibility(cls, value: dict[str, Any]) -> dict[str, Any]:
        return parse_rule(value).model_dump(exclude_none=True)


class SchemeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "code": "BD-OAA", "department_code": "BD-DSS",
        "names": {"en": "Old Age Allowance", "bn": "বয়স্ক ভাতা"}, "kind": "cash", "beneficiary": "person",
        "amount_minor": 60000, "currency": "BDT", "frequency": "monthly", "area_codes": ["BD"],
        "valid_from": "2026-01-01", "rules": {"eligibility": {"all": [{"attr": "age", "op": "ge", "value": 65}]}}}]})

    code: Code
    department_code: Code
    names: Names
    descriptions: dict[str, str] = Field(default_factory=dict, max_length=3)
    kind: Literal["cash", "kind", "service"]
    beneficiary: Literal["person", "household"] = "person"
    amount_minor: int | None = Field(default=None, gt=0, le=10**13, description="Standard amount, minor units")
    currency: Literal["INR", "BDT"] | None = None
    quantity: int | None = Field(default=None, gt=0, le=10**9)
    unit: str | None = Field(default=None, pattern=r"^[a-z_]{1,20}$")
    frequency: Literal["one_time", "monthly", "quarterly", "yearly"]
    area_codes: list[AreaCode] = Field(min_length=1, max_length=200)
    valid_from: date
    valid_to: date | None = None
    rules: RulesIn = Field(default_factory=RulesIn)

    _names = field_validator("names")(names_ok)

    @model_validator(mode="after")
    def _consistent(self) -> SchemeIn:
        if (self.amount_minor is None) != (self.currency is None):
            raise ValueError("amount_minor and currency go together")
        if self.kind == "cash" and self.currency is None:
            raise ValueError("a cash scheme needs its currency (and standard amount)")
        if self.kind == "kind" and not self.unit:
            raise ValueError("an in-kind scheme needs its unit")
        if self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        if any(len(t) > 2000 or "\x00" in t for t in self.descriptions.values()):
            raise ValueError("descriptions are at most 2,000 characters each")
        return self


class RuleVersionOut(BaseModel):
    version: int
    eligibility: dict[str, Any]
    exclusivity: dict[str, Any]
    policy: dict[str, Any]
    note: str | None
    created_at: datetime
    created_by: str


class SchemeOut(BaseModel):
    code: str
    department_code: str
    names: dict[str, str]
    descriptions: dict[str, str]
    kind: str
    beneficiary: str
    amount_minor: int | None
    currency: str | None
    quantity: int | None
    unit: str | None
    frequency: str
    area_codes: list[str]
    valid_from: date
    valid_to: date | None
    current_version: int
    eligibility: dict[str, Any]
    exclusivity: dict[str, Any]
    policy: dict[str, Any]
