"""DCI senders may be served unsigned (require_signature); transactions record accepted_unsigned

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.add_column("dci_sender", sa.Column("require_signature", sa.Boolean, nullable=False,
                                          server_default=sa.text("true")), schema=SCHEMA)
    op.add_column("dci_transaction", sa.Column("accepted_unsigned", sa.Boolean, nullable=False,
                                               server_default=sa.text("false")), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("dci_transaction", "accepted_unsigned", schema=SCHEMA)
    op.drop_column("dci_sender", "require_signature", schema=SCHEMA)
