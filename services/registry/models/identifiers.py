"""Typed identifiers of a person; the value is never stored in clear."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import UUID

from services.registry.models.common import METADATA, SCHEMA, key_text, uuid_pk

ID_TYPES = ("aadhaar", "bd_nid", "bd_brn", "ration_card", "voter_id", "phone")

identifier = Table(
    "identifier",
    METADATA,
    uuid_pk(),
    Column("person_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.person.id"), nullable=False),
    Column("id_type", Text, nullable=False),
    Column("form", Text, nullable=False),
    Column("lookup_hash", key_text(), nullable=False),  # HMAC-SHA256 (hex) of type + matching key
    Column("value_encrypted", Text, nullable=False),  # Fernet token of the normalised value
    Column("last4", Text, nullable=False),
    Column("birth_year", Integer, nullable=True),  # year prefix of a 17-digit NID / BRN
    Column("verification_method", Text, nullable=False, server_default=text("'self_declared'")),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("end_reason", Text, nullable=True),
    Column("created_by", Text, nullable=False),
    CheckConstraint(f"id_type IN {ID_TYPES!r}", name="ck_identifier_type"),
    # One live identifier of a type per person.
    Index("uq_identifier_live_type", "person_id", "id_type", unique=True, postgresql_where=text("ended_at IS NULL")),
    # Lookups are equality on the hash (which already covers the type): a hash index keeps a 4-byte
    # code per entry instead of the 64-character key, so it stays a fraction of a B-tree's size and
    # a bulk import's random inserts into it hit cached pages.
    Index("ix_identifier_lookup", "lookup_hash", postgresql_using="hash", postgresql_where=text("ended_at IS NULL")),
    schema=SCHEMA,
)
