"""Dependencies shared by the registry routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Path, Query

from kernel.auth import Identity, require_scope
from kernel.errors import ValidationProblem

Reader = Annotated[Identity, require_scope("registry:read")]
Writer = Annotated[Identity, require_scope("registry:write")]
AREA_PATTERN = r"^[A-Za-z]{2}(-\d{1,6}){0,5}$"
CodePath = Annotated[str, Path(max_length=64, pattern=AREA_PATTERN, examples=["BD-40-87-90-54-08"],
                                description="Area code (country, then up to five levels), e.g. BD-40-87-90-54-08")]
AreaQuery = Annotated[str, Query(max_length=64, pattern=AREA_PATTERN, description="Area code, e.g. BD-40-87-90-54-08")]
AreaFilter = Annotated[str | None, Query(max_length=64, pattern=AREA_PATTERN, examples=["BD-40-87-90-54-08"],
                                          description="Only this area and the areas below it")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip (the page's start)")]
HistoryLimit = Annotated[int, Query(ge=1, le=1000, description="At most this many changes, newest first")]
HouseholdId = Annotated[uuid.UUID, Path(description="The household's id (from POST /households or a list)")]
PersonId = Annotated[uuid.UUID, Path(description="The person's id (from a household, a search or a lookup)")]


async def _purpose(
    x_purpose: Annotated[str | None, Header(alias="X-Purpose", max_length=200,
                                            description="Why you read this record (audited)")] = None,
    purpose: Annotated[str | None, Query(max_length=200, description="Alternative to the X-Purpose header")] = None,
) -> str:
    value = (x_purpose or purpose or "").strip()
    if len(value) < 3:
        raise ValidationProblem(
            "Say why you read person records: send an X-Purpose header (or a purpose query parameter)",
            errors=[{"field": "header.X-Purpose", "reason": "required, 3-200 characters"}],
        )
    return value


Purpose = Annotated[str, Depends(_purpose)]


def upper_area(code: str) -> str:
    return code.upper()
