"""Field types shared by the benefits schemas."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field, StringConstraints

T = TypeVar("T")

Code = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_\-]{1,39}$")]
Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/\-]{1,100}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                           pattern=r"^[^\x00]*$")]
OptText500 = Annotated[str | None, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")]
AreaCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-\d{1,6}){0,5}$")]
Names = Annotated[dict[str, Text200], Field(description="Text per language: en, hi, bn", min_length=1, max_length=3)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next: str | None = Field(default=None, description="Gateway path of the next page")


class FieldError(BaseModel):
    field: str
    reason: str


def names_ok(value: dict[str, Any]) -> dict[str, Any]:
    unknown = set(value) - {"en", "hi", "bn"}
    if unknown:
        raise ValueError(f"languages are en, hi, bn (not {', '.join(sorted(unknown))})")
    if "en" not in value:
        raise ValueError("an English name (en) is required")
    return value
