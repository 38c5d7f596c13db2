"""templates, contacts, messages and delivery log, opt-outs, the immunisation schedule, doses, workers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from alembic import op

from services.notify.models.tables import NOTIFY_TABLES

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The tables as first released (models/tables.py at this revision); later changes get their own revision.
    for table in NOTIFY_TABLES:
        table.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    for table in reversed(NOTIFY_TABLES):
        table.drop(op.get_bind(), checkfirst=True)
