"""The yearly revision round and its items (one per household carried forward)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from kernel.areas import area_code_type
from services.registry.models.common import METADATA, SCHEMA, area_code, uuid_pk

ROUND_STATUSES = ("open", "closed")
ITEM_STATUSES = ("pending", "confirmed", "edited", "closed", "unreached")
ITEM_ORIGINS = ("carried_forward", "found")
CLOSE_OUTCOMES = ("moved", "deceased", "dissolved")

revision_round = Table(
    "revision_round",
    METADATA,
    uuid_pk(),
    area_code(),
    Column("year", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'open'")),
    Column("due_on", Date, nullable=True),
    Column("overdue_at", DateTime(timezone=True), nullable=True),
    Column("households_total", Integer, nullable=False, server_default=text("0")),
    Column("opened_by", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("closed_by", Text, nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("close_reason", Text, nullable=True),
    Column("forced", Boolean, nullable=False, server_default=text("false")),
    Column("summary", JSONB, nullable=True),  # coverage and raw population figures frozen at close
    Column("version", Integer, nullable=False, server_default=text("1")),
    CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_round_year"),
    CheckConstraint(f"status IN {ROUND_STATUSES!r}", name="ck_round_status"),
    CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="ck_round_closed_at"),
    CheckConstraint("NOT forced OR close_reason IS NOT NULL", name="ck_round_forced_reason"),
    Index("uq_round_area_year", "area_code", "year", unique=True),
    Index("ix_round_year_status", "year", "status"),
    schema=SCHEMA,
)

round_item = Table(
    "round_item",
    METADATA,
    uuid_pk(),
    Column("round_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.revision_round.id"), nullable=False),
    Column("household_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.household.id"), nullable=False),
    area_code(),  # where the household was when carried forward: whose volunteers work it
    Column("origin", Text, nullable=False, server_default=text("'carried_forward'")),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("member_count", Integer, nullable=False, server_default=text("0")),
    Column("close_outcome", Text, nullable=True),
    Column("destination_area_code", area_code_type(), nullable=True),
    Column("deceased_on", Date, nullable=True),
    Column("reason", Text, nullable=True),
    Column("decided_by", Text, nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("edits", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("applied_at", DateTime(timezone=True), nullable=True),  # the closure took effect (round closed)
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(f"origin IN {ITEM_ORIGINS!r}", name="ck_round_item_origin"),
    CheckConstraint(f"status IN {ITEM_STATUSES!r}", name="ck_round_item_status"),
    CheckConstraint(f"close_outcome IS NULL OR close_outcome IN {CLOSE_OUTCOMES!r}", name="ck_round_item_outcome"),
    CheckConstraint("(status = 'closed') = (close_outcome IS NOT NULL)", name="ck_round_item_closed"),
    CheckConstraint("destination_area_code IS NULL OR close_outcome = 'moved'", name="ck_round_item_destination"),
    CheckConstraint("deceased_on IS NULL OR close_outcome = 'deceased'", name="ck_round_item_deceased_on"),
    Index("uq_round_item_household", "round_id", "household_id", unique=True),
    Index("ix_round_item_work", "round_id", "area_code", "status"),
    Index("ix_round_item_household", "household_id"),
    schema=SCHEMA,
)
