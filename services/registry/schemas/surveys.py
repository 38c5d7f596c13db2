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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "device_id": "tab-0042", "batch_id": "2026-12-07T10:15:00Z-0001",
        "households": [
            {"client_ref": "tab-0042:hh-0008", "area_code": "BD-40-87-90-54-08",
             "address": "House 3, Nagarghata, Tala", "latitude": 22.7528, "longitude": 89.2570},
        ],
        "persons": [
            {"client_ref": "tab-0042:p-0015", "household_client_ref": "tab-0042:hh-0008", "role": "head",
             "full_name": "মোঃ জসিম উদ্দিন", "name_latin": "Md. Jasim Uddin", "sex": "male",
             "birth_date": "1971-01-01", "birth_date_estimated": True, "birth_date_source": "estimated",
             "spouse_name": "Mst. Parul Begum", "occupation": "Fisherman"},
            {"client_ref": "tab-0042:p-0016", "household_client_ref": "tab-0042:hh-0008", "role": "spouse",
             "full_name": "মোছাঃ পারুল বেগম", "name_latin": "Mst. Parul Begum", "sex": "female",
             "birth_date": "1976-06-15", "spouse_name": "Md. Jasim Uddin", "disability": "visual"},
        ],
    }]})

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
