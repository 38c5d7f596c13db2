"""Help desks, their agents, business calendars (hours, holidays, time zone) and SLA targets."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, Date, DateTime, ForeignKey, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from kernel.areas import area_code_type
from services.tickets.models.common import METADATA, SCHEMA, created_at, uuid_pk

calendar = Table(
    "calendar",
    METADATA,
    uuid_pk(),
    Column("name", Text, nullable=False, unique=True),
    Column("timezone", Text, nullable=False),
    # {"mon": [["10:00", "17:30"]], ...}: local working intervals per weekday.
    Column("working_hours", JSONB, nullable=False),
    # Which Saturdays of a month are off (e.g. [2, 4]); Sundays follow working_hours.
    Column("saturdays_off", ARRAY(Integer), nullable=False, server_default=text("'{}'")),
    # A state calendar takes the national calendar's holidays too.
    Column("parent_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.calendar.id"), nullable=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    created_at(),
    schema=SCHEMA,
)

holiday = Table(
    "holiday",
    METADATA,
    Column("calendar_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.calendar.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False, server_default=text("'gazetted'")),
    schema=SCHEMA,
)

desk = Table(
    "desk",
    METADATA,
    uuid_pk(),
    Column("name", Text, nullable=False),
    Column("area_code", area_code_type(), nullable=False),
    Column("level", Text, nullable=False),  # block, district, state (upazila, district, division in BD)
    Column("categories", ARRAY(Text), nullable=False, server_default=text("'{}'")),  # empty: every category
    Column("calendar_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.calendar.id"), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # Days after which a resolved ticket closes on its own (NULL: the setting's default; 0: never).
    Column("auto_close_days", Integer, nullable=True),
    created_at(),
    CheckConstraint("auto_close_days IS NULL OR auto_close_days BETWEEN 0 AND 365", name="ck_desk_auto_close_days"),
    Index("ix_desk_area", "area_code"),
    schema=SCHEMA,
)

agent = Table(
    "agent",
    METADATA,
    uuid_pk(),
    Column("desk_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.desk.id"), nullable=False),
    Column("subject", Text, nullable=False),  # the gateway user
    Column("display_name", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    created_at(),
    Index("uq_agent_desk_subject", "desk_id", "subject", unique=True),
    schema=SCHEMA,
)

sla_policy = Table(
    "sla_policy",
    METADATA,
    uuid_pk(),
    Column("level", Text, nullable=False),
    Column("category", Text, nullable=False),  # '*' for any category
    Column("first_response_minutes", Integer, nullable=False),
    Column("resolution_minutes", Integer, nullable=False),
    Column("version", Integer, nullable=False, server_default=text("1")),
    created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("first_response_minutes > 0 AND resolution_minutes >= first_response_minutes",
                    name="ck_sla_policy_minutes"),
    Index("uq_sla_policy_level_category", "level", "category", unique=True),
    schema=SCHEMA,
)

# Every version a policy has had: a clock names the version that set its target (ticket_sla.policy_version),
# so a level already left keeps the target it was measured against.
sla_policy_version = Table(
    "sla_policy_version",
    METADATA,
    Column("policy_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.sla_policy.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("level", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("first_response_minutes", Integer, nullable=False),
    Column("resolution_minutes", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", Text, nullable=False),
    schema=SCHEMA,
)
