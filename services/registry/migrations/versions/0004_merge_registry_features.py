"""merge the imports, DCI and yearly-round branches

Revision ID: 0004
Revises: 0003a, 0003b, 0003c
Create Date: 2026-11-23
"""

revision = "0004"
down_revision = ("0003a", "0003b", "0003c")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
