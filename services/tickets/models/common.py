"""Column helpers and the kernel tables of schema ``tickets``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import SQLModel

from kernel.area_replica import area_replica_table
from kernel.tables import kernel_tables
from services.tickets import SERVICE

METADATA = SQLModel.metadata
SCHEMA = SERVICE
KERNEL = kernel_tables(METADATA, SERVICE)
AREA = area_replica_table(METADATA, SERVICE)


def uuid_pk() -> Column[Any]:
    return Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def created_at() -> Column[Any]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()"))
