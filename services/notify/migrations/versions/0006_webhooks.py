"""webhooks for partner and department systems: subscriptions, deliveries, attempts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from alembic import op

from services.notify.models.tables import WEBHOOK_TABLES

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The tables as first released (models/tables.py at this revision); later changes get their own revision.
    for table in WEBHOOK_TABLES:
        table.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    for table in reversed(WEBHOOK_TABLES):
        table.drop(op.get_bind(), checkfirst=True)
