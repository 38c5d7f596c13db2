"""scheme catalogue, registry copy, hash-chained ledger, flags, posting files, consents

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from alembic import op
from sqlalchemy import MetaData

from services.benefits.models.tables import build_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "benefits"


def upgrade() -> None:
    md = MetaData()
    build_tables(md)
    md.create_all(op.get_bind())


def downgrade() -> None:
    md = MetaData()
    build_tables(md)
    md.drop_all(op.get_bind())
