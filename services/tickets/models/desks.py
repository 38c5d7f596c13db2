"""Help desks, their agents, business calendars (hours, holidays, time zone) and SLA targets."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, Date, ForeignKey, Index, Integer, Table, Text, text
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
    created_at(),
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
    created_at(),
    CheckConstraint("first_response_minutes > 0 AND resolution_minutes >= first_response_minutes",
                    name="ck_sla_policy_minutes"),
    Index("uq_sla_policy_level_category", "level", "category", unique=True),
    schema=SCHEMA,
)
