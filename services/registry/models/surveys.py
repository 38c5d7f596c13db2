"""Offline sync batches, kept so a resent batch gets the same answer without re-applying it."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from services.registry.models.common import METADATA, SCHEMA

sync_batch = Table(
    "sync_batch",
    METADATA,
    Column("device_id", Text, nullable=False),
    Column("batch_id", Text, nullable=False),
    Column("payload_hash", Text, nullable=False),
    Column("submitted_by", Text, nullable=False),
    Column("result", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("device_id", "batch_id"),
    schema=SCHEMA,
)
