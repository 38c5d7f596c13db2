"""posted files' rows staged for a job; matches of held entries; flag status 'matched'; date of death

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import MetaData

from services.benefits.models.tables import staging_tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in staging_tables(MetaData()).values():
        table.create(op.get_bind(), checkfirst=True)
    op.drop_constraint("ck_flag_status", "flag", schema="benefits")
    op.create_check_constraint("ck_flag_status", "flag", "status IN ('open', 'confirmed', 'dismissed', 'matched')",
                               schema="benefits")
    op.add_column("person", sa.Column("deceased_on", sa.Date(), nullable=True), schema="benefits")


def downgrade() -> None:
    op.drop_column("person", "deceased_on", schema="benefits")
    op.drop_constraint("ck_flag_status", "flag", schema="benefits")
    op.create_check_constraint("ck_flag_status", "flag", "status IN ('open', 'confirmed', 'dismissed')",
                               schema="benefits")
    op.drop_table("entry_match", schema="benefits")
    op.drop_table("file_row", schema="benefits")
