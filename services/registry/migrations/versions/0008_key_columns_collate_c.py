"""machine-key columns compare byte by byte (COLLATE "C")

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

Identifier lookup hashes, client references and phonetic name keys have no language order, yet
under the database's default collation every btree comparison on them went through the C
library's ``strcoll``.  With "C" they compare with ``memcmp``: equality is unchanged (text
equality is byte equality either way), a 1M-row bulk import spends about a quarter less time in
index maintenance, and lookups by hash get cheaper too.  PostgreSQL keeps the table (text to text
is binary coercible) and rebuilds only these columns' indexes.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "registry"
KEY_COLUMNS = {
    "person": ("client_ref", "name_key", "father_key", "mother_key"),
    "household": ("client_ref",),
    "identifier": ("lookup_hash",),
    "person_name_token": ("token",),
}


def _collate(collation: str) -> None:
    for table, columns in KEY_COLUMNS.items():
        changes = ", ".join(f'ALTER COLUMN {column} TYPE text COLLATE "{collation}"' for column in columns)
        op.execute(f"ALTER TABLE {SCHEMA}.{table} {changes}")


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
