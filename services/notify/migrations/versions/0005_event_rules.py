"""event rules: which event sends which template to whom

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from alembic import op

from services.notify.models.tables import event_rule

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    event_rule.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    event_rule.drop(op.get_bind(), checkfirst=True)
