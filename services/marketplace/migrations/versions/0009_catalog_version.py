"""the rate card's version: a fresh random value whenever a category, rate item, rate or cancellation
terms change, so a process may keep quotes and a booking's insert can check they are still current

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

0004 builds its tables from the models' ``define()``, so a database created after this change has the
table already: it is created only where missing.  The triggers are statement-level (one bump per
statement, also on TRUNCATE); the version is random, not a counter, so emptied tables (tests) can
never bring back a version a process still holds.
"""

from alembic import op
from sqlalchemy import MetaData

from services.marketplace.models.tables import define

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = "marketplace"
TABLES = ("category", "rate_item", "rate", "cancellation_terms")


def upgrade() -> None:
    define(MetaData())["catalog_state"].create(op.get_bind(), checkfirst=True)
    op.execute(f"INSERT INTO {SCHEMA}.catalog_state (id, version) VALUES (1, gen_random_uuid()) "
               "ON CONFLICT (id) DO NOTHING")
    op.execute(
        f"CREATE OR REPLACE FUNCTION {SCHEMA}.bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN INSERT INTO {SCHEMA}.catalog_state (id, version) VALUES (1, gen_random_uuid()) "
        "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version; RETURN NULL; END $$")
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_catalog_version ON {SCHEMA}.{table}")
        op.execute(f"CREATE TRIGGER tr_{table}_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {SCHEMA}.{table} FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_catalog_version()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_catalog_version ON {SCHEMA}.{table}")
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.bump_catalog_version()")
    define(MetaData())["catalog_state"].drop(op.get_bind(), checkfirst=True)
