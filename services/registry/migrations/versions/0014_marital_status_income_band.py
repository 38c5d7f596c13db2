"""persons keep a marital status and households an income band (benefits' eligibility rules read them)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.add_column("person", sa.Column("marital_status", sa.Text, nullable=True), schema=SCHEMA)
    op.add_column("household", sa.Column("income_band", sa.Text, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("household", "income_band", schema=SCHEMA)
    op.drop_column("person", "marital_status", schema=SCHEMA)
