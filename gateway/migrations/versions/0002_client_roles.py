"""clients may carry operator roles (a department system submitting survey decisions)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "gateway"


def upgrade() -> None:
    op.add_column("client", sa.Column("roles", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
                  schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("client", "roles", schema=SCHEMA)
