"""Tickets, their SLA clocks per level, escalations and the append-only timeline."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from kernel.areas import area_code_type
from services.tickets.models.common import METADATA, SCHEMA, created_at, uuid_pk

STATUSES = ("new", "assigned", "in_progress", "waiting_on_reporter", "resolved", "closed", "reopened", "escalated")
OPEN_STATUSES = tuple(s for s in STATUSES if s not in ("resolved", "closed"))
SLA_KINDS = ("first_response", "resolution")

ticket = Table(
    "ticket",
    METADATA,
    uuid_pk(),
    Column("tracking_number", Text(collation="C"), nullable=False, unique=True),
    Column("category", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("area_code", area_code_type(), nullable=False),  # where the reporter is
    Column("desk_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.desk.id"), nullable=False),
    Column("desk_area_code", area_code_type(), nullable=False),  # copied for the access filter
    Column("level", Text, nullable=False),
    Column("level_seq", Integer, nullable=False, server_default=text("0")),  # 0 = first desk, +1 per escalation
    Column("assigned_to", Text, nullable=True),
    Column("raised_by", Text, nullable=False),  # who typed it in (a worker, a volunteer)
    Column("raised_by_roles", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("reporter", JSONB, nullable=False),  # on whose behalf: name, phone, relation
    Column("channel", Text, nullable=False),
    Column("concerns_person_id", UUID(as_uuid=True), nullable=True),
    Column("concerns_facility", Text, nullable=True),
    Column("attachments", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("source_ref", Text, nullable=True, unique=True),  # e.g. a marketplace complaint id
    Column("rating", Text, nullable=True),
    created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("first_response_at", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    CheckConstraint(f"status IN {STATUSES!r}", name="ck_ticket_status"),
    Index("ix_ticket_desk_open", "desk_id", "created_at", "id", postgresql_where=text(f"status IN {OPEN_STATUSES!r}")),
    Index("ix_ticket_desk_area", "desk_area_code", "created_at", "id"),
    Index("ix_ticket_raised_by", "raised_by", "created_at", "id"),
    Index("ix_ticket_person", "concerns_person_id", postgresql_where=text("concerns_person_id IS NOT NULL")),
    Index("ix_ticket_desk_resolved", "desk_id", "resolved_at", postgresql_where=text("status = 'resolved'")),
    schema=SCHEMA,
)

# One clock per ticket, level and kind.  Business seconds used before the current run are in
# ``elapsed_seconds``; while running, ``running_since`` and ``deadline_at`` are set; paused, both are NULL.
ticket_sla = Table(
    "ticket_sla",
    METADATA,
    uuid_pk(),
    Column("ticket_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.ticket.id"), nullable=False),
    Column("level_seq", Integer, nullable=False),
    Column("level", Text, nullable=False),
    Column("desk_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.desk.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("target_seconds", Integer, nullable=False),
    Column("elapsed_seconds", Integer, nullable=False, server_default=text("0")),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("running_since", DateTime(timezone=True), nullable=True),
    Column("deadline_at", DateTime(timezone=True), nullable=True),
    Column("met_at", DateTime(timezone=True), nullable=True),
    Column("breached_at", DateTime(timezone=True), nullable=True),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("policy_id", UUID(as_uuid=True), nullable=True),  # NULL: the settings' default targets
    Column("policy_version", Integer, nullable=True),
    CheckConstraint(f"kind IN {SLA_KINDS!r}", name="ck_ticket_sla_kind"),
    CheckConstraint("(running_since IS NULL) = (deadline_at IS NULL)", name="ck_ticket_sla_running"),
    Index("uq_ticket_sla_level_kind", "ticket_id", "level_seq", "kind", unique=True),
    Index("ix_ticket_sla_live_deadline", "deadline_at", postgresql_where=text("stopped_at IS NULL")),
    schema=SCHEMA,
)

escalation = Table(
    "escalation",
    METADATA,
    uuid_pk(),
    Column("ticket_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.ticket.id"), nullable=False),
    Column("from_level_seq", Integer, nullable=False),
    Column("from_desk_id", UUID(as_uuid=True), nullable=False),
    Column("from_level", Text, nullable=False),
    Column("to_desk_id", UUID(as_uuid=True), nullable=False),
    Column("to_level", Text, nullable=False),
    Column("cause", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("trail", JSONB, nullable=False),
    Column("actor", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    CheckConstraint("cause IN ('first_response_breach', 'resolution_breach', 'manual', 'poor_rating')",
                    name="ck_escalation_cause"),
    # The database's word on "never twice for one level": one escalation out of each level.
    Index("uq_escalation_ticket_level", "ticket_id", "from_level_seq", unique=True),
    schema=SCHEMA,
)

timeline = Table(
    "timeline",
    METADATA,
    Column("seq", BigInteger, Identity(always=True), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.ticket.id"), nullable=False),
    Column("desk_id", UUID(as_uuid=True), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("actor_kind", Text, nullable=False),  # reporter, agent, system
    Column("kind", Text, nullable=False),
    Column("public", Boolean, nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=True),
    Column("level", Text, nullable=True),
    Column("body", Text, nullable=True),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # The writing transaction's id: a desk stream emits entries in (xid, seq) order once every transaction
    # before them has ended, so resuming after an event id never skips an entry that committed late.
    Column("xid", BigInteger, nullable=False, server_default=text("(pg_current_xact_id()::text::bigint)")),
    # An escalation's entry: the desk the ticket left (its live stream shows the ticket going).
    Column("from_desk_id", UUID(as_uuid=True), nullable=True),
    Index("ix_timeline_ticket_seq", "ticket_id", "seq"),
    Index("ix_timeline_desk_xid", "desk_id", "xid", "seq"),
    Index("ix_timeline_from_desk_xid", "from_desk_id", "xid", "seq", postgresql_where=text("from_desk_id IS NOT NULL")),
    schema=SCHEMA,
)

# The generation of the routing tables (desk, calendar, sla_policy): the id of the last transaction that
# changed them, set by statement triggers (migration 0008).  Ticket creation reuses cached routes only while
# it is unchanged, checked inside its insert statement (repository/intake.py).
routing_generation = Table(
    "routing_generation",
    METADATA,
    Column("id", SmallInteger, primary_key=True),
    Column("n", BigInteger, nullable=False),
    schema=SCHEMA,
)


# Open tickets per level and category, kept without recounting: statement triggers on ``ticket`` append
# signed deltas to ``open_delta`` (no index, no shared row: writers never wait on each other), and the
# gauges job folds them into ``open_count`` (migration 0006).
open_delta = Table(
    "open_delta",
    METADATA,
    Column("level", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("n", Integer, nullable=False),
    schema=SCHEMA,
)

open_count = Table(
    "open_count",
    METADATA,
    Column("level", Text, primary_key=True),
    Column("category", Text, primary_key=True),
    Column("n", BigInteger, nullable=False),
    schema=SCHEMA,
)
