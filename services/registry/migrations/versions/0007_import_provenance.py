"""bulk-imported persons and households carry their import (their "create" history entry)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

A bulk import used to write one "create" row into change_history per person and household; the
same facts (which import, which sheet row, who, when) now live on the record itself and the
history API shows them as the record's first entry.  Existing "create" rows of earlier imports
stay as they are.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.add_column("person", sa.Column("import_id", UUID(as_uuid=True), nullable=True), schema=SCHEMA)
    op.add_column("person", sa.Column("import_row", sa.Integer(), nullable=True), schema=SCHEMA)
    op.add_column("household", sa.Column("import_id", UUID(as_uuid=True), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    # Keep the provenance as history rows before the columns go.
    op.execute(
        "INSERT INTO registry.change_history (record_type, record_id, version, action, changes, reason, changed_by, "
        "changed_at) SELECT 'person', id, 1, 'create', jsonb_build_object('import', jsonb_build_object('from', NULL, "
        "'to', jsonb_build_object('id', import_id, 'row', import_row))), 'bulk import', created_by, created_at "
        "FROM registry.person WHERE import_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO registry.change_history (record_type, record_id, version, action, changes, reason, changed_by, "
        "changed_at) SELECT 'household', id, 1, 'create', jsonb_build_object('import', jsonb_build_object('from', "
        "NULL, 'to', jsonb_build_object('id', import_id))), 'bulk import', created_by, created_at "
        "FROM registry.household WHERE import_id IS NOT NULL"
    )
    op.drop_column("household", "import_id", schema=SCHEMA)
    op.drop_column("person", "import_row", schema=SCHEMA)
    op.drop_column("person", "import_id", schema=SCHEMA)
