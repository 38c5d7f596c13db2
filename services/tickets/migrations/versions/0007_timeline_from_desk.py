"""an escalation's timeline entry names the desk it left, so that desk's live stream shows the ticket going

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tickets.timeline ADD COLUMN from_desk_id UUID")
    op.execute("CREATE INDEX ix_timeline_from_desk_xid ON tickets.timeline (from_desk_id, xid, seq) "
               "WHERE from_desk_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX tickets.ix_timeline_from_desk_xid")
    op.execute("ALTER TABLE tickets.timeline DROP COLUMN from_desk_id")
