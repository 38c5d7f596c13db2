"""Events published by the registry service."""

from __future__ import annotations

from pydantic import Field

from contracts.base import Event


class AreaCreated(Event):
    """An administrative area (state, district, block, gram panchayat, village; or division,
    district, upazila, union, ward) was added to the hierarchy."""

    subject = "registry.area.created.v1"
    code: str = Field(description="Hierarchical area code, e.g. IN-23-0456-2210")
    parent_code: str | None
    level: str
    name: str
    name_local: str | None = None
    version: int = Field(ge=1, description="Row version; consumers keep the highest they have seen")


class AreaUpdated(Event):
    """An area's names changed."""

    subject = "registry.area.updated.v1"
    code: str
    parent_code: str | None
    level: str
    name: str
    name_local: str | None = None
    version: int = Field(ge=1)
