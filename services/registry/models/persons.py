"""Persons and their phonetic name tokens."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, Date, ForeignKey, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from kernel.areas import area_code_type
from services.registry.models.common import METADATA, SCHEMA, area_code, key_text, row_meta, uuid_pk

SEXES = ("female", "male", "other", "unknown")
PERSON_STATUSES = ("active", "deceased", "merged")
DOB_SOURCES = ("birth_certificate", "brn", "nid", "aadhaar", "school_record", "self_declared", "estimated")

person = Table(
    "person",
    METADATA,
    uuid_pk(),
    Column("client_ref", key_text(), nullable=True),
    area_code(),
    Column("full_name", Text, nullable=False),
    Column("name_latin", Text, nullable=True),
    Column("name_key", key_text(), nullable=False),
    Column("sex", Text, nullable=False),
    Column("birth_date", Date, nullable=True),
    Column("birth_date_estimated", Boolean, nullable=False, server_default=text("false")),
    Column("birth_date_source", Text, nullable=True),
    Column("birth_year", Integer, nullable=True),
    Column("father_name", Text, nullable=True),
    Column("spouse_name", Text, nullable=True),  # husband's / wife's name (the survey form's guardian line)
    Column("marital_status", Text, nullable=True),  # never_married, married, widowed, divorced, separated (0014)
    Column("mother_name", Text, nullable=True),
    Column("father_key", key_text(), nullable=False, server_default=text("''")),
    Column("mother_key", key_text(), nullable=False, server_default=text("''")),
    Column("disability", Text, nullable=True),  # None, or a kind: visual, hearing, mobility, ...
    Column("pregnant", Boolean, nullable=False, server_default=text("false")),
    Column("occupation", Text, nullable=True),
    Column("phones", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("preferred_language", Text, nullable=True),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("deceased_on", Date, nullable=True),
    Column("merged_into", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.person.id"), nullable=True),
    # Provenance of a record created by a bulk import: its "create" history entry (migration 0007).
    Column("import_id", UUID(as_uuid=True), nullable=True),
    Column("import_row", Integer, nullable=True),
    *row_meta(),
    CheckConstraint(f"sex IN {SEXES!r}", name="ck_person_sex"),
    CheckConstraint(f"status IN {PERSON_STATUSES!r}", name="ck_person_status"),
    CheckConstraint("(status = 'merged') = (merged_into IS NOT NULL)", name="ck_person_merged"),
    CheckConstraint("NOT pregnant OR sex = 'female'", name="ck_person_pregnant_female"),
    Index("ix_person_area_code", "area_code"),
    Index("ix_person_name_key", "name_key", "birth_year"),
    Index("ix_person_phones", "phones", postgresql_using="gin"),  # the matcher's phone blocking (&&)
    Index("uq_person_client_ref", "client_ref", unique=True, postgresql_where=text("client_ref IS NOT NULL")),
    schema=SCHEMA,
)

# One row per phonetic token of a person's name: token search is an equality + area range scan.
person_name_token = Table(
    "person_name_token",
    METADATA,
    Column("person_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.person.id", ondelete="CASCADE"),
           primary_key=True),
    Column("token", key_text(), primary_key=True),
    Column("area_code", area_code_type(), nullable=False),
    Index("ix_person_name_token_lookup", "token", "area_code"),
    schema=SCHEMA,
)
