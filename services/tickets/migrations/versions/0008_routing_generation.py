"""a routing generation: which desks, calendars and SLA policies a process's cached routes were read at

Every statement that changes ``desk``, ``calendar`` (its holidays bump its version) or ``sla_policy`` sets
the one row to the changing transaction's id, so the value never repeats.  Ticket creation checks it in
its insert statement and writes nothing when the routes it used are out of date (the caller reads them
again): no round trip for routing on the hot path, and no stale route after any change on any replica.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("desk", "calendar", "sla_policy")
STATEMENTS = [
    """
CREATE TABLE tickets.routing_generation (
    id SMALLINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    n BIGINT NOT NULL
)
    """,
    "INSERT INTO tickets.routing_generation (id, n) VALUES (1, pg_current_xact_id()::text::bigint)",
    # An upsert, not an update: a truncated (test) database has no row, which reads as generation 0.
    """
CREATE FUNCTION tickets.bump_routing_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tickets.routing_generation (id, n) VALUES (1, pg_current_xact_id()::text::bigint)
    ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n;
    RETURN NULL;
END $$
    """,
    *(f"CREATE TRIGGER {table}_routing_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tickets.{table} "
      "FOR EACH STATEMENT EXECUTE FUNCTION tickets.bump_routing_generation()" for table in TABLES),
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_routing_generation ON tickets.{table}")
    op.execute("DROP FUNCTION tickets.bump_routing_generation()")
    op.execute("DROP TABLE tickets.routing_generation")
