"""the registry copy (persons' status, merges and identifier types, and its freshness) and the worker's
checked registry link

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

0004 builds its tables from the models' ``define()``, so a database created after this change has the
tables and columns already: each is created only where missing.  Workers linked before this change are
``pending``: the copy fills from the registry's events and settles them.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import MetaData

from services.marketplace.models.tables import LINK_STATUSES, define

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "marketplace"


def upgrade() -> None:
    tables = define(MetaData())
    tables["registry_person"].create(op.get_bind(), checkfirst=True)
    tables["registry_copy"].create(op.get_bind(), checkfirst=True)
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("worker", schema=SCHEMA)}
    if "registry_link_status" not in columns:
        op.execute(f"ALTER TABLE {SCHEMA}.worker ADD COLUMN registry_link_status text, "
                   "ADD COLUMN registry_checked_at timestamptz, "
                   f"ADD CONSTRAINT ck_worker_registry_link_status CHECK (registry_link_status IN {LINK_STATUSES!r})")
        op.execute(f"CREATE INDEX ix_worker_registry_person ON {SCHEMA}.worker (registry_person_id) "
                   "WHERE registry_person_id IS NOT NULL")
        op.execute(f"UPDATE {SCHEMA}.worker SET registry_link_status = 'pending' WHERE registry_person_id IS NOT NULL")


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {SCHEMA}.ix_worker_registry_person")
    op.execute(f"ALTER TABLE {SCHEMA}.worker DROP CONSTRAINT IF EXISTS ck_worker_registry_link_status, "
               "DROP COLUMN IF EXISTS registry_link_status, DROP COLUMN IF EXISTS registry_checked_at")
    tables = define(MetaData())
    tables["registry_copy"].drop(op.get_bind(), checkfirst=True)
    tables["registry_person"].drop(op.get_bind(), checkfirst=True)
