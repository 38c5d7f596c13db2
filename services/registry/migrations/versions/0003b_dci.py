"""DCI social registry API: senders, transactions, subscriptions

Revision ID: 0003b
Revises: 0002
Create Date: 2026-11-23

Core PostgreSQL only.  Request bodies and subscription criteria can hold national identifiers,
so they are stored only as Fernet ciphertext (the registry's identifier encryption key).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0003b"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "registry"
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "dci_sender",
        sa.Column("sender_id", sa.Text, primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("callback_allowlist", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("default_callback_uri", sa.Text),
        sa.Column("public_keys", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("jsonb_typeof(public_keys) = 'array'", name="ck_dci_sender_keys_array"),
        schema=SCHEMA,
    )
    op.create_table(
        "dci_transaction",
        sa.Column("correlation_id", sa.Text, primary_key=True),
        sa.Column("sender_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.dci_sender.sender_id"), nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("transaction_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("callback_uri", sa.Text),
        sa.Column("identity", JSONB, nullable=False),
        sa.Column("request_encrypted", sa.Text),
        sa.Column("results", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('rcvd', 'pdng', 'succ', 'rjct')", name="ck_dci_transaction_status"),
        sa.CheckConstraint("mode IN ('sync', 'async')", name="ck_dci_transaction_mode"),
        sa.UniqueConstraint("sender_id", "message_id", name="uq_dci_transaction_message"),
        schema=SCHEMA,
    )
    op.create_index("ix_dci_transaction_txn", "dci_transaction", ["sender_id", "transaction_id"], schema=SCHEMA)
    op.create_table(
        "dci_subscription",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("sender_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.dci_sender.sender_id"), nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("transaction_id", sa.Text, nullable=False),
        sa.Column("reference_id", sa.Text, nullable=False),
        sa.Column("reg_event_type", sa.Text, nullable=False),
        sa.Column("callback_uri", sa.Text, nullable=False),
        sa.Column("identity", JSONB, nullable=False),
        sa.Column("criteria_encrypted", sa.Text, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True)),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'subscribe'")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('subscribe', 'unsubscribe')", name="ck_dci_subscription_status"),
        schema=SCHEMA,
    )
    op.create_index("ix_dci_subscription_live", "dci_subscription", ["reg_event_type"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'subscribe'"))
    op.create_index("ix_dci_subscription_sender", "dci_subscription", ["sender_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("dci_subscription", schema=SCHEMA)
    op.drop_table("dci_transaction", schema=SCHEMA)
    op.drop_table("dci_sender", schema=SCHEMA)
