"""Field types shared by the notify schemas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{7,14}$"), Field(examples=["+919812345678"])]
Language = Literal["hi", "bn", "en"]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.\-]{1,63}$")]
AreaCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}(-[0-9]{1,6}){0,5}$", max_length=64)]
# Text PostgreSQL can store (no NUL), bounded.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", min_length=1, max_length=1600)]
ShortText = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", min_length=1, max_length=200)]
VarValue = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=200)]
