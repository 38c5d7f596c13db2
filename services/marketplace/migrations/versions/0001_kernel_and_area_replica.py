"""kernel tables and the area replica

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

from kernel.area_replica import create_area_replica_table
from kernel.migrations import create_kernel_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "marketplace"


def upgrade() -> None:
    create_kernel_tables(op, SCHEMA)
    create_area_replica_table(op, SCHEMA)


def downgrade() -> None:
    for table in ("area", "audit_event", "scheduled_job", "inbox", "outbox"):
        op.drop_table(table, schema=SCHEMA)
