"""help desks, calendars, SLA policies, tickets, SLA clocks, escalations and the timeline

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

The DDL is written out (generated once from the models of this revision) so that later model
changes never rewrite what this revision created.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "tickets"
STATEMENTS = [
    """
CREATE TABLE tickets.calendar (
    id UUID DEFAULT gen_random_uuid() NOT NULL,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    working_hours JSONB NOT NULL,
    saturdays_off INTEGER[] DEFAULT '{}' NOT NULL,
    parent_id UUID,
    version INTEGER DEFAULT 1 NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name),
    FOREIGN KEY(parent_id) REFERENCES tickets.calendar (id)
)
    """,
    """
CREATE TABLE tickets.holiday (
    calendar_id UUID NOT NULL,
    day DATE NOT NULL,
    name TEXT NOT NULL,
    kind TEXT DEFAULT 'gazetted' NOT NULL,
    PRIMARY KEY (calendar_id, day),
    FOREIGN KEY(calendar_id) REFERENCES tickets.calendar (id)
)
    """,
    """
CREATE TABLE tickets.desk (
    id UUID DEFAULT gen_random_uuid() NOT NULL,
    name TEXT NOT NULL,
    area_code VARCHAR(64) COLLATE "C" NOT NULL,
    level TEXT NOT NULL,
    categories TEXT[] DEFAULT '{}' NOT NULL,
    calendar_id UUID NOT NULL,
    active BOOLEAN DEFAULT true NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(calendar_id) REFERENCES tickets.calendar (id)
)
    """,
    """
CREATE INDEX ix_desk_area ON tickets.desk (area_code)
    """,
    """
CREATE TABLE tickets.agent (
    id UUID DEFAULT gen_random_uuid() NOT NULL,
    desk_id UUID NOT NULL,
    subject TEXT NOT NULL,
    display_name TEXT NOT NULL,
    active BOOLEAN DEFAULT true NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(desk_id) REFERENCES tickets.desk (id)
)
    """,
    """
CREATE UNIQUE INDEX uq_agent_desk_subject ON tickets.agent (desk_id, subject)
    """,
    """
CREATE TABLE tickets.sla_policy (
    id UUID DEFAULT gen_random_uuid() NOT NULL,
    level TEXT NOT NULL,
    category TEXT NOT NULL,
    first_response_minutes INTEGER NOT NULL,
    resolution_minutes INTEGER NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_sla_policy_minutes CHECK (first_response_minutes > 0 AND resolution_minutes >= first_response_minutes)
)
    """,
    """
CREATE UNIQUE INDEX uq_sla_policy_level_category ON tickets.sla_policy (level, category)
    """,
    """
CREATE TABLE tickets.ticket (
    id UUID DEFAULT gen_random_uuid() NOT NULL,
    tracking_number TEXT COLLATE "C" NOT NULL,
    category TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    language TEXT NOT NULL,
    area_code VARCHAR(64) COLLATE "C" NOT NULL,
    desk_id UUID NOT NULL,
    desk_area_code VARCHAR(64) COLLATE "C" NOT NULL,
    level TEXT NOT NULL,
    level_seq INTEGER DEFAULT 0 NOT NULL,
    assigned_to TEXT,
    raised_by TEXT NOT NULL,
    raised_by_roles JSONB DEFAULT '[]'::jsonb NOT NULL,
    reporter JSONB NOT NULL,
    channel TEXT NOT NULL,
    concerns_person_id UUID,
    concerns_facility TEXT,
    attachments JSONB DEFAULT '[]'::jsonb NOT NULL,
    source_ref TEXT,
    rating TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    first_response_at TIMESTAMP WITH TIME ZONE,
    resolved_at TIMESTAMP WITH TIME ZONE,
    closed_at TIMESTAMP WITH TIME ZONE,
    version INTEGER DEFAULT 1 NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_ticket_status CHECK (status IN ('new', 'assigned', 'in_progress', 'waiting_on_reporter', 'resolved', 'closed', 'reopened', 'escalated')),
    UNIQUE (tracking_number),
    FOREIGN KEY(desk_id) REFERENCES tickets.desk (id),
    UNIQUE (source_ref)
)
    """,
    """
CREATE INDEX ix_ticket_desk_area ON tickets.ticket (desk_area_code, created_at, id)
    """,
    """
CREATE INDEX ix_ticket_desk_open ON tickets.ticket (desk_id, created_at, id) WHERE status IN ('new', 'assigned', 'in_progress', 'waiting_on_reporter', 'reopened', 'escalated')
    """,
    """
CREATE INDEX ix_ticket_person ON tickets.ticket (concerns_person_id) WHERE concerns_person_id IS NOT NULL
    """,
    """
CREATE INDEX ix_ticket_raised_by ON tickets.ticket (raised_by, created_at, id)
    """,
    """
CREATE TABLE tickets.ticket_sla (
    id UUID DEFAULT gen_random_uuid() NOT NULL,
    ticket_id UUID NOT NULL,
    level_seq INTEGER NOT NULL,
    level TEXT NOT NULL,
    desk_id UUID NOT NULL,
    kind TEXT NOT NULL,
    target_seconds INTEGER NOT NULL,
    elapsed_seconds INTEGER DEFAULT 0 NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    running_since TIMESTAMP WITH TIME ZONE,
    deadline_at TIMESTAMP WITH TIME ZONE,
    met_at TIMESTAMP WITH TIME ZONE,
    breached_at TIMESTAMP WITH TIME ZONE,
    stopped_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (id),
    CONSTRAINT ck_ticket_sla_kind CHECK (kind IN ('first_response', 'resolution')),
    CONSTRAINT ck_ticket_sla_running CHECK ((running_since IS NULL) = (deadline_at IS NULL)),
    FOREIGN KEY(ticket_id) REFERENCES tickets.ticket (id),
    FOREIGN KEY(desk_id) REFERENCES tickets.desk (id)
)
    """,
    """
CREATE INDEX ix_ticket_sla_live_deadline ON tickets.ticket_sla (deadline_at) WHERE stopped_at IS NULL
    """,
    """
CREATE UNIQUE INDEX uq_ticket_sla_level_kind ON tickets.ticket_sla (ticket_id, level_seq, kind)
    """,
    """
CREATE TABLE tickets.escalation (
    id UUID DEFAULT gen_random_uuid() NOT NULL,
    ticket_id UUID NOT NULL,
    from_level_seq INTEGER NOT NULL,
    from_desk_id UUID NOT NULL,
    from_level TEXT NOT NULL,
    to_desk_id UUID NOT NULL,
    to_level TEXT NOT NULL,
    cause TEXT NOT NULL,
    reason TEXT,
    trail JSONB NOT NULL,
    actor TEXT NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_escalation_cause CHECK (cause IN ('first_response_breach', 'resolution_breach', 'manual', 'poor_rating')),
    FOREIGN KEY(ticket_id) REFERENCES tickets.ticket (id)
)
    """,
    """
CREATE UNIQUE INDEX uq_escalation_ticket_level ON tickets.escalation (ticket_id, from_level_seq)
    """,
    """
CREATE TABLE tickets.timeline (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    ticket_id UUID NOT NULL,
    desk_id UUID NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    actor TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    kind TEXT NOT NULL,
    public BOOLEAN NOT NULL,
    from_status TEXT,
    to_status TEXT,
    level TEXT,
    body TEXT,
    data JSONB DEFAULT '{}'::jsonb NOT NULL,
    PRIMARY KEY (seq),
    FOREIGN KEY(ticket_id) REFERENCES tickets.ticket (id)
)
    """,
    """
CREATE INDEX ix_timeline_desk_seq ON tickets.timeline (desk_id, seq)
    """,
    """
CREATE INDEX ix_timeline_ticket_seq ON tickets.timeline (ticket_id, seq)
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ('timeline', 'escalation', 'ticket_sla', 'ticket', 'sla_policy', 'agent', 'desk', 'holiday', 'calendar'):
        op.drop_table(table, schema=SCHEMA)
