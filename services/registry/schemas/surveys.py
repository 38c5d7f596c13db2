"""Offline sync bodies: the device sends full rows with its own ids and the versions it edited."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kernel.areas import AreaCodeStr
from services.registry.schemas.common import ClientRef, Role, Version
from services.registry.schemas.households import Address, _Gps
from services.registry.schemas.persons import PersonCreate

DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]


class SyncHousehold(_Gps):
    model_config = ConfigDict(extra="forbid")

    client_ref: ClientRef
    base_version: Version | None = Field(default=None, description="None for a record new on the device")
    area_code: AreaCodeStr
    address: Address
    address_local: Address | None = None


class SyncPerson(PersonCreate):
    client_ref: ClientRef
    base_version: Version | None = None
    household_client_ref: ClientRef
    role: Role
    started_on: date | None = None


class SyncBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: DeviceId
    batch_id: DeviceId
    households: list[SyncHousehold] = Field(default_factory=list, max_length=500)
    persons: list[SyncPerson] = Field(default_factory=list, max_length=3000)


class SyncRowResult(BaseModel):
    kind: Literal["household", "person"]
    client_ref: str
    status: Literal["created", "updated", "unchanged", "conflict", "rejected"]
    id: uuid.UUID | None = None
    version: int | None = None
    current_version: int | None = Field(default=None, description="On a conflict: the server's version")
    reason: str | None = None
    errors: list[dict[str, Any]] | None = None


class SyncResult(BaseModel):
    device_id: str
    batch_id: str
    replayed: bool = Field(description="True when this batch was already applied; nothing was written again")
    rows: list[SyncRowResult]
