"""kernel tables and the area hierarchy

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from kernel.migrations import create_kernel_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    create_kernel_tables(op, SCHEMA)
    op.create_table(
        "area",
        sa.Column("code", sa.String(64, collation="C"), primary_key=True),
        sa.Column("parent_code", sa.String(64, collation="C"), sa.ForeignKey(f"{SCHEMA}.area.code"), nullable=True),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_local", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        schema=SCHEMA,
    )
    op.create_index("ix_registry_area_parent_code", "area", ["parent_code"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("area", schema=SCHEMA)
    for table in ("audit_event", "scheduled_job", "inbox", "outbox"):
        op.drop_table(table, schema=SCHEMA)
