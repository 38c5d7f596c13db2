"""Every change to a registry record: who, when, what, and the previous value."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.registry.models.common import METADATA, SCHEMA

change_history = Table(
    "change_history",
    METADATA,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("record_type", Text, nullable=False),  # household, person, membership, identifier
    Column("record_id", UUID(as_uuid=True), nullable=False),
    Column("version", Integer, nullable=True),  # the record's version after the change
    Column("action", Text, nullable=False),
    Column("changes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # field -> {from, to}
    Column("reason", Text, nullable=True),
    Column("changed_by", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")),
    Column("request_id", Text, nullable=True),
    Index("ix_change_history_record", "record_id", "id"),
    schema=SCHEMA,
)
