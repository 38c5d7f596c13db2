"""broadcast campaigns: recipients, survey responses

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from alembic import op

from services.notify.models.tables import CAMPAIGN_TABLES

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The tables as first released (models/tables.py at this revision); later changes get their own revision.
    for table in CAMPAIGN_TABLES:
        table.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    for table in reversed(CAMPAIGN_TABLES):
        table.drop(op.get_bind(), checkfirst=True)
