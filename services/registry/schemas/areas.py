"""Request and response bodies of the registry API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kernel.areas import AreaCodeStr


class AreaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"code": "BD-40-87-90-54-09", "name": "Nagarghata Ward 9", "name_local": "নগরঘাটা ৯ নং ওয়ার্ড"},
        {"code": "IN-23-0456-2210", "name": "Sehore block", "name_local": "सीहोर ब्लॉक"},
    ]})

    code: AreaCodeStr = Field(description="Hierarchical code, e.g. IN-23-0456 or BD-40-87-90", examples=["IN-23"])
    name: str = Field(min_length=1, max_length=200, examples=["Madhya Pradesh"])
    name_local: str | None = Field(default=None, max_length=200, examples=["मध्य प्रदेश"])


class AreaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Nagarghata Ward 8", "name_local": "নগরঘাটা ৮ নং ওয়ার্ড"}]})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_local: str | None = Field(default=None, max_length=200)


class AreaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    parent_code: str | None
    level: str
    name: str
    name_local: str | None
    version: int


class AreaPage(BaseModel):
    items: list[AreaRead]
    total: int
    limit: int
    offset: int
