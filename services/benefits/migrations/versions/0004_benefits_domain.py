"""scheme catalogue, registry copy, hash-chained ledger, flags, posting files, consents

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from alembic import op
from sqlalchemy import MetaData

from services.benefits.models.tables import build_tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "benefits"


def upgrade() -> None:
    md = MetaData()
    build_tables(md)
    # checkfirst: a database that ran this revision under its first number (for a few minutes it shared
    # "0003" with the backbone's revision) already has these tables.
    md.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    md = MetaData()
    build_tables(md)
    md.drop_all(op.get_bind())
