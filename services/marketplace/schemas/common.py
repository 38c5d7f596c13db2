"""Field types shared by the marketplace schemas."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, Field, StringConstraints

NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=NO_NUL)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500, pattern=NO_NUL)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")]
AreaCode = Annotated[str, StringConstraints(pattern=r"^(IN|BD)(-\d{1,6}){0,5}$", max_length=64)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{7,14}$")]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Minor = Annotated[int, Field(ge=0, le=10_000_000_00, description="Amount in the minor unit of the area's currency "
                                                                "(paise of INR in India, poisha of BDT in Bangladesh)")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
