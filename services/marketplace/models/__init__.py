"""Marketplace tables (schema ``marketplace``).

Tables are declared by :func:`define` on a given ``MetaData`` so that migration 0003 creates
exactly these (it calls ``define`` on a fresh ``MetaData``); a later change to a table needs its
own migration, as everywhere else.
"""

from __future__ import annotations

from sqlalchemy import MetaData, Table
from sqlmodel import SQLModel

from kernel.area_replica import area_replica_table
from kernel.tables import kernel_tables
from services.marketplace import SERVICE
from services.marketplace.models.tables import define

METADATA = SQLModel.metadata
SCHEMA = SERVICE
KERNEL = kernel_tables(METADATA, SERVICE)
AREA = area_replica_table(METADATA, SERVICE)
_T: dict[str, Table] = define(METADATA)

category = _T["category"]
rate_item = _T["rate_item"]
rate = _T["rate"]
cancellation_terms = _T["cancellation_terms"]
catalog_state = _T["catalog_state"]
vendor = _T["vendor"]
worker = _T["worker"]
worker_skill = _T["worker_skill"]
worker_verification = _T["worker_verification"]
worker_shift = _T["worker_shift"]
worker_shift_exception = _T["worker_shift_exception"]
department = _T["department"]
office = _T["office"]
booking = _T["booking"]
booking_transition = _T["booking_transition"]
booking_extra = _T["booking_extra"]
booking_otp_failure = _T["booking_otp_failure"]
beckn_subscriber = _T["beckn_subscriber"]
beckn_message = _T["beckn_message"]
beckn_callback = _T["beckn_callback"]
call = _T["call"]
registry_person = _T["registry_person"]
registry_copy = _T["registry_copy"]

__all__ = ["METADATA", "SCHEMA", "MetaData", "define", *_T]
