"""the catalogue's version, for posting's catalogue cache

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from alembic import op
from sqlalchemy import MetaData

from services.benefits.models.tables import CATALOGUE_TABLES, cache_tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FUNCTION = "benefits.bump_catalogue_version"


def upgrade() -> None:
    cache_tables(MetaData())["catalogue_state"].create(op.get_bind(), checkfirst=True)
    # The writing transaction's id: never a value an earlier reader saw (ids are never reused, and
    # a transaction that wrote it has committed before anyone could read it).
    op.execute(f"""
        CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO benefits.catalogue_state (id, version) VALUES (1, pg_current_xact_id()::text::bigint)
          ON CONFLICT (id) DO UPDATE SET version = excluded.version;
          RETURN NULL;
        END $$""")
    for table in CATALOGUE_TABLES:
        op.execute(f"CREATE TRIGGER tr_{table}_catalogue_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON benefits.{table} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()")
    op.execute("INSERT INTO benefits.catalogue_state (id, version) VALUES (1, pg_current_xact_id()::text::bigint)")


def downgrade() -> None:
    for table in CATALOGUE_TABLES:
        op.execute(f"DROP TRIGGER tr_{table}_catalogue_version ON benefits.{table}")
    op.execute(f"DROP FUNCTION {FUNCTION}()")
    op.drop_table("catalogue_state", schema="benefits")
