"""persons keep a husband's or wife's name (the import template's spouse_name column)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.add_column("person", sa.Column("spouse_name", sa.Text, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("person", "spouse_name", schema=SCHEMA)
