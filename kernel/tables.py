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
        # Failed publish attempts of this row and the last reason; after N the relay quarantines it.
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        CheckConstraint("(payload IS NULL) <> (batch IS NULL)", name=outbox_check_name(schema)),
        Index(f"ix_{schema}_outbox_batch_seq", "seq", postgresql_where=text("batch IS NOT NULL")),
        schema=schema,
    )
    outbox_quarantine = Table(
        "outbox_quarantine",
        metadata,
        # A row the relay gave up on (oversized event, corrupt batch line, refused by the stream N times):
        # kept with its reason until an operator retries or drops it (``gramsetu outbox``).
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("subject", Text, nullable=False),
        Column("payload", JSONB),
        Column("batch", Text),
        Column("events", Integer, nullable=False, server_default=text("1")),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("last_error", Text),
        Column("quarantined_at", DateTime(timezone=True), nullable=False, server_default=now),
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
    entity_version = Table(
        "entity_version",
        metadata,
        # The highest version of each entity an ordered consumer applied (kernel.consumer, ordered=True).
        Column("consumer", Text, nullable=False),
        Column("entity", Text, nullable=False),
        Column("version", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=now),
        PrimaryKeyConstraint("consumer", "entity"),
        schema=schema,
    )
    external_effect = Table(
        "external_effect",
        metadata,
        # An external side effect (SMS, webhook, callback, payment) recorded as attempted, with its
        # idempotency key, before it is sent (kernel.effects).
        Column("key", Text, primary_key=True),
        Column("kind", Text, nullable=False),
        Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("status", Text, nullable=False, server_default=text("'attempted'")),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("result", JSONB),
        Column("last_error", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=now),
        Column("attempted_at", DateTime(timezone=True)),
        Column("finished_at", DateTime(timezone=True)),
        CheckConstraint("status IN ('attempted', 'sent', 'failed')", name=f"ck_{schema}_external_effect_status"),
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
        # A worker leases a job before running it; a paused or dead worker's lease expires and
        # another worker takes the job over.
        Column("lease_owner", Text),
        Column("lease_until", DateTime(timezone=True)),
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
    return {
        "outbox": outbox,
        "outbox_quarantine": outbox_quarantine,
        "inbox": inbox,
        "entity_version": entity_version,
        "external_effect": external_effect,
        "scheduled_job": scheduled_job,
        "audit_event": audit_event,
    }
