"""kernel backbone: outbox attempts and quarantine, entity versions, external effects, job leases

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op

from kernel.migrations import add_backbone_hardening, drop_backbone_hardening

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    add_backbone_hardening(op, SCHEMA)


def downgrade() -> None:
    drop_backbone_hardening(op, SCHEMA)
