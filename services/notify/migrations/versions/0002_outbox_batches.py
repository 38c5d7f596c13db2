"""outbox rows may carry a batch of events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

from kernel.migrations import add_outbox_batches, drop_outbox_batches

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "notify"


def upgrade() -> None:
    add_outbox_batches(op, SCHEMA)


def downgrade() -> None:
    drop_outbox_batches(op, SCHEMA)
