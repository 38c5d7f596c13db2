"""Tables every service schema carries: outbox, inbox, scheduled jobs, audit.

The same DDL is created in each service's own schema by that service's first migration
(:func:`kernel.migrations.create_kernel_tables`), so kernel code addresses them as
``<schema>.outbox`` and so on.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID


def outbox_check_name(schema: str) -> str:
    return f"ck_{schema}_outbox_payload_or_batch"


def kernel_tables(metadata: MetaData, schema: str) -> dict[str, Table]:
    now = text("clock_timestamp()")
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", BigInteger, Identity(always=True), primary_key=True),
        Column("id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("subject", Text, nullable=False),
        # A row carries one event (``payload``) or a batch of them (``batch``, see kernel.outbox.copy_event_batches);
        # ``batch`` is stored uncompressed (STORAGE EXTERNAL, set by kernel.migrations.add_outbox_batches).
        Column("payload", JSONB),
        Column("batch", Text),
        Column("events", Integer, nullable=False, server_default=text("1")),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=now),
        CheckConstraint("(payload IS NULL) <> (batch IS NULL)", name=outbox_check_name(schema)),
        Index(f"ix_{schema}_outbox_batch_seq", "seq", postgresql_where=text("batch IS NOT NULL")),
        schema=schema,
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=now),
        PrimaryKeyConstraint("consumer", "event_id"),
        Index(f"ix_{schema}_inbox_processed_at", "processed_at"),
        schema=schema,
    )
    scheduled_job = Table(
        "scheduled_job",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
        Column("kind", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("due_at", DateTime(timezone=True), nullable=False),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Column("failed_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=now),
        UniqueConstraint("kind", "key", name=f"uq_{schema}_scheduled_job_kind_key"),
        # Partial index: claiming due jobs touches only live jobs that are due, never the rest.
        Index(f"ix_{schema}_scheduled_job_due", "due_at", postgresql_where=text("failed_at IS NULL")),
        schema=schema,
    )
    audit_event = Table(
        "audit_event",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("at", DateTime(timezone=True), nullable=False, server_default=now),
        Column("actor", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("record_type", Text, nullable=False),
        Column("record_id", Text, nullable=False),
        Column("purpose", Text),
        Column("request_id", Text),
        Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Index(f"ix_{schema}_audit_record", "record_type", "record_id"),
        schema=schema,
    )
    return {"outbox": outbox, "inbox": inbox, "scheduled_job": scheduled_job, "audit_event": audit_event}
