"""Tickets tables (schema ``tickets``)."""

from __future__ import annotations

from sqlmodel import SQLModel

from kernel.area_replica import area_replica_table
from kernel.tables import kernel_tables
from services.tickets import SERVICE

KERNEL = kernel_tables(SQLModel.metadata, SERVICE)
AREA = area_replica_table(SQLModel.metadata, SERVICE)
