"""identifier lookups through a hash index

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

Every query on ``lookup_hash`` is an equality (the HMAC already covers the identifier type).  A
B-tree on (id_type, lookup_hash) holds the 64-character hex key per entry and takes each new,
random key on a random leaf page; a hash index keeps a 4-byte hash code per entry, so it is a
fraction of the size and stays in cache: a 1M-row bulk import spent about a quarter less time in
the identifier table.  Hash indexes are core PostgreSQL and WAL-logged (since 10).
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX registry.ix_identifier_lookup")
    op.execute("CREATE INDEX ix_identifier_lookup ON registry.identifier USING hash (lookup_hash) "
               "WHERE ended_at IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX registry.ix_identifier_lookup")
    op.execute("CREATE INDEX ix_identifier_lookup ON registry.identifier (id_type, lookup_hash) "
               "WHERE ended_at IS NULL")
