"""sending rates shared by every replica: token buckets in the database

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from alembic import op

from services.notify.models.tables import rate_bucket

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rate_bucket.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    rate_bucket.drop(op.get_bind(), checkfirst=True)
