"""search index and duplicate flags of large imports are built after the import commits

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

A large import writes its primary records and events in one transaction and leaves the derived
data (name tokens, duplicate flags) to a scheduled job (``service.imports_index``).  The job
walks the import's person ids (time-ordered, so one id range) batch by batch; ``index_next`` is
its durable cursor, ``search_index`` tells readers whether the imported names are searchable yet.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.add_column("import_job", sa.Column("search_index", sa.Text, nullable=False, server_default="done"),
                  schema=SCHEMA)
    op.add_column("import_job", sa.Column("search_indexed_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("import_job", sa.Column("index_next", UUID(as_uuid=True)), schema=SCHEMA)
    op.add_column("import_job", sa.Column("index_last", UUID(as_uuid=True)), schema=SCHEMA)
    op.create_check_constraint("ck_import_job_search_index", "import_job", "search_index IN ('pending', 'done')",
                               schema=SCHEMA)


def downgrade() -> None:
    op.drop_constraint("ck_import_job_search_index", "import_job", schema=SCHEMA)
    for column in ("index_last", "index_next", "search_indexed_at", "search_index"):
        op.drop_column("import_job", column, schema=SCHEMA)
