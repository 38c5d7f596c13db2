"""DCI (SPDCI social registry API): onboarded senders, transactions and event subscriptions."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from services.registry.models.common import METADATA, SCHEMA

NOW = text("now()")

# A government system allowed to call the DCI API: its OAuth2 client, callback allow-list
# (SSRF guard) and Ed25519 public keys (JWKs) for the envelope signature.
dci_sender = Table(
    "dci_sender",
    METADATA,
    Column("sender_id", Text, primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("callback_allowlist", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("default_callback_uri", Text),
    Column("public_keys", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # False: envelopes are accepted without a signature (a sender with no keys yet); outside
    # development only when the operator allows it (GRAMSETU_REGISTRY_DCI_ALLOW_UNSIGNED_SENDERS).
    Column("require_signature", Boolean, nullable=False, server_default=text("true")),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    schema=SCHEMA,
)

# One row per request message: what txn/status reports, and the work an async request queues.
dci_transaction = Table(
    "dci_transaction",
    METADATA,
    Column("correlation_id", Text, primary_key=True),
    Column("sender_id", Text, ForeignKey(f"{SCHEMA}.dci_sender.sender_id"), nullable=False),
    Column("message_id", Text, nullable=False),
    Column("transaction_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("callback_uri", Text),
    Column("identity", JSONB, nullable=False),
    Column("request_encrypted", Text),  # dropped once the async reply is delivered
    Column("results", JSONB, nullable=False, server_default=text("'[]'::jsonb")),  # per reference_id status
    Column("accepted_unsigned", Boolean, nullable=False, server_default=text("false")),  # signature not checked
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("completed_at", DateTime(timezone=True)),
    schema=SCHEMA,
)

dci_subscription = Table(
    "dci_subscription",
    METADATA,
    Column("code", Text, primary_key=True),
    Column("sender_id", Text, ForeignKey(f"{SCHEMA}.dci_sender.sender_id"), nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("transaction_id", Text, nullable=False),
    Column("reference_id", Text, nullable=False),
    Column("reg_event_type", Text, nullable=False),
    Column("callback_uri", Text, nullable=False),
    Column("identity", JSONB, nullable=False),  # the subscriber's scopes: notifications obey them
    Column("criteria_encrypted", Text, nullable=False),
    Column("starts_at", DateTime(timezone=True)),
    Column("ends_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False, server_default=text("'subscribe'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("unsubscribed_at", DateTime(timezone=True)),
    schema=SCHEMA,
)
