"""Field types shared by the tickets schemas."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from kernel.areas import AreaCodeStr


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it as bad input (422), never a 500 at insert time.
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_no_nul)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200), AfterValidator(_no_nul)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), AfterValidator(_no_nul)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000),
                   AfterValidator(_no_nul)]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Subject = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:\-]{0,127}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{7,14}$")]
Language = Annotated[str, StringConstraints(pattern=r"^(en|hi|bn)$")]
AreaCode = Annotated[AreaCodeStr, Field(max_length=64, examples=["IN-23-0456-2210"])]
Category = Annotated[str, Field(pattern=r"^[a-z][a-z_]{1,39}$", examples=["app_problem"],
                                description="app_problem, grievance, service_request, marketplace_complaint, ...")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
