"""The possible-duplicates review queue."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.registry.models.common import METADATA, SCHEMA, area_code, uuid_pk

DUPLICATE_REASONS = ("same_identifier", "same_name_parents_birth_year", "probable_match")

duplicate_candidate = Table(
    "duplicate_candidate",
    METADATA,
    uuid_pk(),
    Column("person_a", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.person.id"), nullable=False),
    Column("person_b", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.person.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    area_code(),  # the closest common ancestor area of the two records: reviewers there see both
    Column("status", Text, nullable=False, server_default=text("'open'")),
    Column("decided_by", Text, nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decision_note", Text, nullable=True),
    Column("survivor_id", UUID(as_uuid=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint("person_a < person_b", name="ck_duplicate_ordered_pair"),
    CheckConstraint(f"reason IN {DUPLICATE_REASONS!r}", name="ck_duplicate_reason"),
    CheckConstraint("status IN ('open', 'merged', 'dismissed')", name="ck_duplicate_status"),
    Index("uq_duplicate_pair_reason", "person_a", "person_b", "reason", unique=True),
    Index("ix_duplicate_queue", "status", "area_code"),
    schema=SCHEMA,
)

# Fellegi-Sunter parameters learned by the matcher's batch run (EM, no labels); the newest row scores
# every new or edited record.  Until a batch run has stored one, the packaged default is used.
match_model = Table(
    "match_model",
    METADATA,
    uuid_pk(),
    Column("source", Text, nullable=False),
    Column("records", Integer, nullable=False),
    Column("comparisons", BigInteger, nullable=False),
    Column("model", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    schema=SCHEMA,
)
