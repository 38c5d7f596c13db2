"""clients, credentials, operators, signing keys and shared rate-limit buckets

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "gateway"

# One round trip leases tokens from a shared bucket: refill by elapsed time, grant up to
# ``want`` whole tokens, and say how long until the next token if none could be granted.
TAKE_TOKENS = f"""
CREATE OR REPLACE FUNCTION "{SCHEMA}".take_tokens(
    bucket text, capacity double precision, rate double precision, want double precision,
    OUT granted double precision, OUT remaining double precision, OUT wait_seconds double precision)
LANGUAGE plpgsql AS $$
DECLARE
    now_ts timestamptz := clock_timestamp();
    current double precision;
BEGIN
    INSERT INTO "{SCHEMA}".rate_bucket AS b (key, tokens, updated_at) VALUES (bucket, capacity, now_ts)
    ON CONFLICT (key) DO UPDATE
        SET tokens = LEAST(capacity, b.tokens + rate * GREATEST(0, EXTRACT(EPOCH FROM now_ts - b.updated_at))),
            updated_at = now_ts
    RETURNING tokens INTO current;
    granted := LEAST(want, GREATEST(0, floor(current)));
    remaining := current - granted;
    UPDATE "{SCHEMA}".rate_bucket SET tokens = remaining WHERE key = bucket;
    IF granted > 0 OR rate <= 0 THEN
        wait_seconds := 0;
    ELSE
        wait_seconds := (1 - current) / rate;
    END IF;
END $$;
"""


def _now() -> sa.TextClause:
    return sa.text("now()")


def _texts(name: str) -> sa.Column:
    return sa.Column(name, ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'"))


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "client",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        _texts("scopes"), _texts("area_scope"), _texts("cors_origins"),
        sa.Column("rate_per_minute", sa.Double, nullable=True),
        sa.Column("created_at", ts, nullable=False, server_default=_now()),
        sa.Column("revoked_at", ts, nullable=True),
        schema=SCHEMA,
    )
    op.create_table(
        "credential",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("client_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.client.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", ts, nullable=False, server_default=_now()),
        sa.Column("expires_at", ts, nullable=True),
        sa.Column("revoked_at", ts, nullable=True),
        schema=SCHEMA,
    )
    op.create_index("ix_gateway_credential_client", "credential", ["client_id"], schema=SCHEMA)
    op.create_table(
        "operator",
        sa.Column("username", sa.Text, primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=True),
        _texts("roles"), _texts("area_scope"),
        sa.Column("created_at", ts, nullable=False, server_default=_now()),
        sa.Column("disabled_at", ts, nullable=True),
        schema=SCHEMA,
    )
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.Text, primary_key=True),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("public_jwk", JSONB, nullable=False),
        sa.Column("created_at", ts, nullable=False, server_default=_now()),
        sa.Column("retired_at", ts, nullable=True),
        schema=SCHEMA,
    )
    op.create_table(
        "rate_bucket",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("tokens", sa.Double, nullable=False),
        sa.Column("updated_at", ts, nullable=False, server_default=_now()),
        schema=SCHEMA,
    )
    op.execute(TAKE_TOKENS)


def downgrade() -> None:
    op.execute(f'DROP FUNCTION IF EXISTS "{SCHEMA}".take_tokens')
    for table in ("rate_bucket", "signing_key", "operator", "credential", "client"):
        op.drop_table(table, schema=SCHEMA)
