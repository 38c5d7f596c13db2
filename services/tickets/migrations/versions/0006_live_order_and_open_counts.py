"""timeline entries carry their transaction id (desk streams resume in commit-safe order); open-ticket
counts kept by statement triggers as deltas, folded by the gauges job

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN = "('new', 'assigned', 'in_progress', 'waiting_on_reporter', 'reopened', 'escalated')"
STATEMENTS = [
    # Existing entries are all committed: 0 sorts them first.  New ones get their top-level transaction id.
    "ALTER TABLE tickets.timeline ADD COLUMN xid BIGINT DEFAULT 0 NOT NULL",
    "ALTER TABLE tickets.timeline ALTER COLUMN xid SET DEFAULT (pg_current_xact_id()::text::bigint)",
    "CREATE INDEX ix_timeline_desk_xid ON tickets.timeline (desk_id, xid, seq)",
    "DROP INDEX tickets.ix_timeline_desk_seq",
    # Open tickets per level and category: an append-only delta log (no index, no row any two writers share)
    # and the folded totals.
    "CREATE TABLE tickets.open_delta (level TEXT NOT NULL, category TEXT NOT NULL, n INTEGER NOT NULL)",
    """
CREATE TABLE tickets.open_count (
    level TEXT NOT NULL,
    category TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (level, category)
)
    """,
    f"""
CREATE FUNCTION tickets.open_delta_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tickets.open_delta (level, category, n)
    SELECT level, category, count(*) FROM new_rows WHERE status IN {OPEN} GROUP BY level, category;
    RETURN NULL;
END $$
    """,
    f"""
CREATE FUNCTION tickets.open_delta_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tickets.open_delta (level, category, n)
    SELECT level, category, sum(n) FROM (
        SELECT o.level, o.category, -1 AS n FROM old_rows o JOIN new_rows w ON w.id = o.id
        WHERE o.status IN {OPEN} AND (w.status NOT IN {OPEN} OR w.level <> o.level OR w.category <> o.category)
        UNION ALL
        SELECT w.level, w.category, 1 FROM old_rows o JOIN new_rows w ON w.id = o.id
        WHERE w.status IN {OPEN} AND (o.status NOT IN {OPEN} OR w.level <> o.level OR w.category <> o.category)
    ) changes GROUP BY level, category HAVING sum(n) <> 0;
    RETURN NULL;
END $$
    """,
    "CREATE TRIGGER ticket_open_delta_insert AFTER INSERT ON tickets.ticket REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION tickets.open_delta_on_insert()",
    "CREATE TRIGGER ticket_open_delta_update AFTER UPDATE ON tickets.ticket REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tickets.open_delta_on_update()",
    f"INSERT INTO tickets.open_count SELECT level, category, count(*) FROM tickets.ticket WHERE status IN {OPEN} "
    "GROUP BY level, category",
]


def upgrade() -> None:
    op.execute("LOCK TABLE tickets.ticket IN SHARE MODE")  # the seed count and the triggers see the same rows
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER ticket_open_delta_update ON tickets.ticket")
    op.execute("DROP TRIGGER ticket_open_delta_insert ON tickets.ticket")
    op.execute("DROP FUNCTION tickets.open_delta_on_update()")
    op.execute("DROP FUNCTION tickets.open_delta_on_insert()")
    op.drop_table("open_count", schema="tickets")
    op.drop_table("open_delta", schema="tickets")
    op.execute("CREATE INDEX ix_timeline_desk_seq ON tickets.timeline (desk_id, seq)")
    op.execute("DROP INDEX tickets.ix_timeline_desk_xid")
    op.execute("ALTER TABLE tickets.timeline DROP COLUMN xid")
