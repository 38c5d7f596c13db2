"""catalog and rate card, vendors and workers, departments, bookings, Beckn

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Core PostgreSQL only: worker positions are the built-in ``point`` type under a GiST index
(KNN ``<->``), one lane of x per trade so a rare trade is found without walking the common ones.
"""

from alembic import op
from sqlalchemy import MetaData

from services.marketplace.models.tables import define

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata = MetaData()
    define(metadata)
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata = MetaData()
    define(metadata)
    metadata.drop_all(op.get_bind())
