"""yearly revision rounds (the January round) and their items

Revision ID: 0003c
Revises: 0002
Create Date: 2026-11-23

One round per area and year (the database backstop; overlapping open rounds of one year are
refused by the service under an advisory lock).  One item per household and round.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003c"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "registry"
AREA = sa.String(64, collation="C")
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "revision_round",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("area_code", AREA, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'open'")),
        sa.Column("due_on", sa.Date),
        sa.Column("overdue_at", sa.DateTime(timezone=True)),
        sa.Column("households_total", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("opened_by", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("closed_by", sa.Text),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("close_reason", sa.Text),
        sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("summary", JSONB),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_round_year"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_round_status"),
        sa.CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="ck_round_closed_at"),
        sa.CheckConstraint("NOT forced OR close_reason IS NOT NULL", name="ck_round_forced_reason"),
        schema=SCHEMA,
    )
    op.create_index("uq_round_area_year", "revision_round", ["area_code", "year"], unique=True, schema=SCHEMA)
    op.create_index("ix_round_year_status", "revision_round", ["year", "status"], schema=SCHEMA)

    op.create_table(
        "round_item",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("round_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.revision_round.id"), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.household.id"), nullable=False),
        sa.Column("area_code", AREA, nullable=False),
        sa.Column("origin", sa.Text, nullable=False, server_default=sa.text("'carried_forward'")),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
        sa.Column("member_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("close_outcome", sa.Text),
        sa.Column("destination_area_code", AREA),
        sa.Column("deceased_on", sa.Date),
        sa.Column("reason", sa.Text),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("edits", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("applied_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("origin IN ('carried_forward', 'found')", name="ck_round_item_origin"),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'edited', 'closed', 'unreached')",
                           name="ck_round_item_status"),
        sa.CheckConstraint("close_outcome IS NULL OR close_outcome IN ('moved', 'deceased', 'dissolved')",
                           name="ck_round_item_outcome"),
        sa.CheckConstraint("(status = 'closed') = (close_outcome IS NOT NULL)", name="ck_round_item_closed"),
        sa.CheckConstraint("destination_area_code IS NULL OR close_outcome = 'moved'",
                           name="ck_round_item_destination"),
        sa.CheckConstraint("deceased_on IS NULL OR close_outcome = 'deceased'", name="ck_round_item_deceased_on"),
        schema=SCHEMA,
    )
    op.create_index("uq_round_item_household", "round_item", ["round_id", "household_id"], unique=True,
                    schema=SCHEMA)
    op.create_index("ix_round_item_work", "round_item", ["round_id", "area_code", "status"], schema=SCHEMA)
    op.create_index("ix_round_item_household", "round_item", ["household_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("round_item", schema=SCHEMA)
    op.drop_table("revision_round", schema=SCHEMA)
