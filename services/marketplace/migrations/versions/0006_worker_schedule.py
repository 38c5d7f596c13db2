"""the worker's schedule (shifts and exceptions) copied into its row for the nearest-worker search

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

0004 builds its tables from the models' ``define()``, so a database created after this change has the
column already: it is added only where missing; every worker's copy is then built from the tables.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "marketplace"
EMPTY = '{"shifts": [], "exceptions": []}'


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("worker", schema=SCHEMA)}
    if "schedule" not in columns:
        op.execute(f"ALTER TABLE {SCHEMA}.worker ADD COLUMN schedule jsonb NOT NULL DEFAULT '{EMPTY}'::jsonb")
    op.execute(
        f"UPDATE {SCHEMA}.worker w SET schedule = jsonb_build_object("
        f" 'shifts', coalesce((SELECT jsonb_agg(jsonb_build_array(s.weekday, s.starts, s.ends) ORDER BY s.weekday,"
        f" s.starts) FROM {SCHEMA}.worker_shift s WHERE s.worker_id = w.id), '[]'),"
        f" 'exceptions', coalesce((SELECT jsonb_agg(jsonb_build_array(e.on_date, e.available, e.starts, e.ends)"
        f" ORDER BY e.on_date) FROM {SCHEMA}.worker_shift_exception e WHERE e.worker_id = w.id), '[]'))"
        f" WHERE EXISTS (SELECT 1 FROM {SCHEMA}.worker_shift s WHERE s.worker_id = w.id)"
        f" OR EXISTS (SELECT 1 FROM {SCHEMA}.worker_shift_exception e WHERE e.worker_id = w.id)")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {SCHEMA}.worker DROP COLUMN IF EXISTS schedule")
