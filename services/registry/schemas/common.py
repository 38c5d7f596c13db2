"""Field types shared by the registry schemas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptText200 = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=200)]
ClientRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
Version = Annotated[int, Field(ge=1, le=2_000_000_000)]
Sex = Literal["female", "male", "other", "unknown"]
MaritalStatus = Literal["never_married", "married", "widowed", "divorced", "separated"]
# A household's income or poverty band as the survey records it (India: aay, bpl, apl; Bangladesh:
# extreme_poor, poor, non_poor): a short code that schemes' eligibility rules name.
IncomeBand = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Role = Literal["head", "spouse", "child", "parent", "sibling", "grandchild", "other_relative", "non_relative"]
DobSource = Literal["birth_certificate", "brn", "nid", "aadhaar", "school_record", "self_declared", "estimated"]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]
