"""probabilistic matcher: probable_match duplicates, stored match models, phone index

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

The matcher (services/registry/rules/matching) queues pairs under a new reason, keeps the
parameters its batch run learned, and finds records sharing a phone through a GIN index on the
phones array (core PostgreSQL: the built-in array operator class).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.execute("ALTER TABLE registry.duplicate_candidate DROP CONSTRAINT ck_duplicate_reason")
    op.execute("ALTER TABLE registry.duplicate_candidate ADD CONSTRAINT ck_duplicate_reason "
               "CHECK (reason IN ('same_identifier', 'same_name_parents_birth_year', 'probable_match'))")
    op.create_table(
        "match_model",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("comparisons", sa.BigInteger, nullable=False),
        sa.Column("model", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        schema=SCHEMA,
    )
    op.execute("CREATE INDEX ix_person_phones ON registry.person USING gin (phones)")


def downgrade() -> None:
    op.execute("DROP INDEX registry.ix_person_phones")
    op.drop_table("match_model", schema=SCHEMA)
    op.execute("DELETE FROM registry.duplicate_candidate WHERE reason = 'probable_match'")
    op.execute("ALTER TABLE registry.duplicate_candidate DROP CONSTRAINT ck_duplicate_reason")
    op.execute("ALTER TABLE registry.duplicate_candidate ADD CONSTRAINT ck_duplicate_reason "
               "CHECK (reason IN ('same_identifier', 'same_name_parents_birth_year'))")
