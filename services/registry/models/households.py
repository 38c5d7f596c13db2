"""Households and memberships."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Date, DateTime, ForeignKey, Index, Numeric, Table, Text, text
from sqlalchemy.dialects.postgresql import UUID

from services.registry.models.common import METADATA, SCHEMA, area_code, key_text, row_meta, uuid_pk

HOUSEHOLD_STATUSES = ("active", "moved", "closed")
ROLES = ("head", "spouse", "child", "parent", "sibling", "grandchild", "other_relative", "non_relative")

household = Table(
    "household",
    METADATA,
    uuid_pk(),
    Column("client_ref", key_text(), nullable=True),
    area_code(),
    Column("address", Text, nullable=False),
    Column("address_local", Text, nullable=True),
    Column("income_band", Text, nullable=True),  # the survey's income or poverty band, e.g. bpl, aay (0014)
    Column("latitude", Numeric(9, 6), nullable=True),
    Column("longitude", Numeric(9, 6), nullable=True),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("survey_status", Text, nullable=False, server_default=text("'collected'")),
    Column("return_reason", Text, nullable=True),
    Column("collected_by", Text, nullable=True),
    Column("verified_by", Text, nullable=True),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("approved_by", Text, nullable=True),
    Column("approved_at", DateTime(timezone=True), nullable=True),
    Column("import_id", UUID(as_uuid=True), nullable=True),  # created by this bulk import (migration 0007)
    *row_meta(),
    CheckConstraint("latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180", name="ck_household_gps"),
    CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="ck_household_gps_pair"),
    CheckConstraint(f"status IN {HOUSEHOLD_STATUSES!r}", name="ck_household_status"),
    CheckConstraint(
        "survey_status IN ('collected', 'verified', 'approved', 'returned')", name="ck_household_survey_status"
    ),
    CheckConstraint("survey_status <> 'returned' OR return_reason IS NOT NULL", name="ck_household_return_reason"),
    Index("ix_household_area_code", "area_code"),
    Index("uq_household_client_ref", "client_ref", unique=True, postgresql_where=text("client_ref IS NOT NULL")),
    schema=SCHEMA,
)

membership = Table(
    "membership",
    METADATA,
    uuid_pk(),
    Column("household_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.household.id"), nullable=False),
    Column("person_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.person.id"), nullable=False),
    Column("role", Text, nullable=False),
    Column("started_on", Date, nullable=False, server_default=text("CURRENT_DATE")),
    Column("ended_on", Date, nullable=True),
    Column("end_reason", Text, nullable=True),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(f"role IN {ROLES!r}", name="ck_membership_role"),
    CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="ck_membership_dates"),
    # Exactly one head: at most one live head per household here; "at least one" is checked
    # before a household can be verified.
    Index("uq_membership_one_head", "household_id", unique=True,
          postgresql_where=text("role = 'head' AND ended_on IS NULL")),
    # A person lives in one household at a time.
    Index("uq_membership_one_live", "person_id", unique=True, postgresql_where=text("ended_on IS NULL")),
    Index("ix_membership_household", "household_id"),
    schema=SCHEMA,
)
