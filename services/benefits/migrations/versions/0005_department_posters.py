"""who posts for a department

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from alembic import op
from sqlalchemy import MetaData

from services.benefits.models.tables import access_tables, build_tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    md = MetaData()
    build_tables(md)  # the department table its foreign key names
    access_tables(md)["department_poster"].create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    op.drop_table("department_poster", schema="benefits")
