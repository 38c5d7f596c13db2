"""auto-close per desk, versioned SLA policies, the policy version each clock runs on

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "tickets"
STATEMENTS = [
    # NULL: the GRAMSETU_TICKETS_AUTO_CLOSE_DAYS default; 0: never close on its own.
    "ALTER TABLE tickets.desk ADD COLUMN auto_close_days INTEGER",
    "ALTER TABLE tickets.desk ADD CONSTRAINT ck_desk_auto_close_days "
    "CHECK (auto_close_days IS NULL OR auto_close_days BETWEEN 0 AND 365)",
    "CREATE INDEX ix_ticket_desk_resolved ON tickets.ticket (desk_id, resolved_at) WHERE status = 'resolved'",
    "ALTER TABLE tickets.sla_policy ADD COLUMN version INTEGER DEFAULT 1 NOT NULL",
    "ALTER TABLE tickets.sla_policy ADD COLUMN updated_at TIMESTAMP WITH TIME ZONE",
    """
CREATE TABLE tickets.sla_policy_version (
    policy_id UUID NOT NULL,
    version INTEGER NOT NULL,
    level TEXT NOT NULL,
    category TEXT NOT NULL,
    first_response_minutes INTEGER NOT NULL,
    resolution_minutes INTEGER NOT NULL,
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    changed_by TEXT NOT NULL,
    PRIMARY KEY (policy_id, version),
    FOREIGN KEY(policy_id) REFERENCES tickets.sla_policy (id)
)
    """,
    "INSERT INTO tickets.sla_policy_version SELECT id, 1, level, category, first_response_minutes, "
    "resolution_minutes, created_at, 'migration' FROM tickets.sla_policy",
    # Which policy version set a clock's target (NULL: the settings' defaults).
    "ALTER TABLE tickets.ticket_sla ADD COLUMN policy_id UUID",
    "ALTER TABLE tickets.ticket_sla ADD COLUMN policy_version INTEGER",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE tickets.ticket_sla DROP COLUMN policy_version, DROP COLUMN policy_id")
    op.drop_table("sla_policy_version", schema=SCHEMA)
    op.execute("ALTER TABLE tickets.sla_policy DROP COLUMN updated_at, DROP COLUMN version")
    op.execute("DROP INDEX tickets.ix_ticket_desk_resolved")
    op.execute("ALTER TABLE tickets.desk DROP CONSTRAINT ck_desk_auto_close_days, DROP COLUMN auto_close_days")
