"""households, persons, memberships, identifiers, history, duplicates, sync batches

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Core PostgreSQL only.  Area codes use the C collation so area-scope filters are btree range
scans.  Business rules the database can hold are here too: one live head per household, one
live household per person, one live identifier of a type per person.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "registry"
AREA = sa.String(64, collation="C")
NOW = sa.text("now()")


def _row_meta() -> list[sa.Column]:
    return [
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_by", sa.Text, nullable=False),
    ]


def _id() -> sa.Column:
    return sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()"))


def _ref(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{SCHEMA}.{table}.id")


def upgrade() -> None:
    op.create_table(
        "household",
        _id(),
        sa.Column("client_ref", sa.Text),
        sa.Column("area_code", AREA, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("address_local", sa.Text),
        sa.Column("latitude", sa.Numeric(9, 6)),
        sa.Column("longitude", sa.Numeric(9, 6)),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
        sa.Column("survey_status", sa.Text, nullable=False, server_default=sa.text("'collected'")),
        sa.Column("return_reason", sa.Text),
        sa.Column("collected_by", sa.Text),
        sa.Column("verified_by", sa.Text),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.Column("approved_by", sa.Text),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        *_row_meta(),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180", name="ck_household_gps"),
        sa.CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="ck_household_gps_pair"),
        sa.CheckConstraint("status IN ('active', 'moved', 'closed')", name="ck_household_status"),
        sa.CheckConstraint("survey_status IN ('collected', 'verified', 'approved', 'returned')",
                           name="ck_household_survey_status"),
        sa.CheckConstraint("survey_status <> 'returned' OR return_reason IS NOT NULL",
                           name="ck_household_return_reason"),
        schema=SCHEMA,
    )
    op.create_index("ix_household_area_code", "household", ["area_code"], schema=SCHEMA)
    op.create_index("uq_household_client_ref", "household", ["client_ref"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("client_ref IS NOT NULL"))

    op.create_table(
        "person",
        _id(),
        sa.Column("client_ref", sa.Text),
        sa.Column("area_code", AREA, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("name_latin", sa.Text),
        sa.Column("name_key", sa.Text, nullable=False),
        sa.Column("sex", sa.Text, nullable=False),
        sa.Column("birth_date", sa.Date),
        sa.Column("birth_date_estimated", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("birth_date_source", sa.Text),
        sa.Column("birth_year", sa.Integer),
        sa.Column("father_name", sa.Text),
        sa.Column("mother_name", sa.Text),
        sa.Column("father_key", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("mother_key", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("disability", sa.Text),
        sa.Column("pregnant", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("occupation", sa.Text),
        sa.Column("phones", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("preferred_language", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
        sa.Column("deceased_on", sa.Date),
        sa.Column("merged_into", UUID(as_uuid=True), _ref("person")),
        *_row_meta(),
        sa.CheckConstraint("sex IN ('female', 'male', 'other', 'unknown')", name="ck_person_sex"),
        sa.CheckConstraint("status IN ('active', 'deceased', 'merged')", name="ck_person_status"),
        sa.CheckConstraint("(status = 'merged') = (merged_into IS NOT NULL)", name="ck_person_merged"),
        sa.CheckConstraint("NOT pregnant OR sex = 'female'", name="ck_person_pregnant_female"),
        schema=SCHEMA,
    )
    op.create_index("ix_person_area_code", "person", ["area_code"], schema=SCHEMA)
    op.create_index("ix_person_name_key", "person", ["name_key", "birth_year"], schema=SCHEMA)
    op.create_index("uq_person_client_ref", "person", ["client_ref"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("client_ref IS NOT NULL"))

    op.create_table(
        "person_name_token",
        sa.Column("person_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.person.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("area_code", AREA, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_person_name_token_lookup", "person_name_token", ["token", "area_code"], schema=SCHEMA)

    op.create_table(
        "membership",
        _id(),
        sa.Column("household_id", UUID(as_uuid=True), _ref("household"), nullable=False),
        sa.Column("person_id", UUID(as_uuid=True), _ref("person"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("started_on", sa.Date, nullable=False, server_default=sa.text("CURRENT_DATE")),
        sa.Column("ended_on", sa.Date),
        sa.Column("end_reason", sa.Text),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint(
            "role IN ('head', 'spouse', 'child', 'parent', 'sibling', 'grandchild', 'other_relative', 'non_relative')",
            name="ck_membership_role",
        ),
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="ck_membership_dates"),
        schema=SCHEMA,
    )
    op.create_index("uq_membership_one_head", "membership", ["household_id"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("role = 'head' AND ended_on IS NULL"))
    op.create_index("uq_membership_one_live", "membership", ["person_id"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("ended_on IS NULL"))
    op.create_index("ix_membership_household", "membership", ["household_id"], schema=SCHEMA)

    op.create_table(
        "identifier",
        _id(),
        sa.Column("person_id", UUID(as_uuid=True), _ref("person"), nullable=False),
        sa.Column("id_type", sa.Text, nullable=False),
        sa.Column("form", sa.Text, nullable=False),
        sa.Column("lookup_hash", sa.Text, nullable=False),
        sa.Column("value_encrypted", sa.Text, nullable=False),
        sa.Column("last4", sa.Text, nullable=False),
        sa.Column("birth_year", sa.Integer),
        sa.Column("verification_method", sa.Text, nullable=False, server_default=sa.text("'self_declared'")),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.Text),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.CheckConstraint("id_type IN ('aadhaar', 'bd_nid', 'bd_brn', 'ration_card', 'voter_id', 'phone')",
                           name="ck_identifier_type"),
        schema=SCHEMA,
    )
    op.create_index("uq_identifier_live_type", "identifier", ["person_id", "id_type"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("ended_at IS NULL"))
    op.create_index("ix_identifier_lookup", "identifier", ["id_type", "lookup_hash"], schema=SCHEMA,
                    postgresql_where=sa.text("ended_at IS NULL"))

    op.create_table(
        "change_history",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("record_type", sa.Text, nullable=False),
        sa.Column("record_id", UUID(as_uuid=True), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("changes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("reason", sa.Text),
        sa.Column("changed_by", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()")),
        sa.Column("request_id", sa.Text),
        schema=SCHEMA,
    )
    op.create_index("ix_change_history_record", "change_history", ["record_id", "id"], schema=SCHEMA)

    op.create_table(
        "duplicate_candidate",
        _id(),
        sa.Column("person_a", UUID(as_uuid=True), _ref("person"), nullable=False),
        sa.Column("person_b", UUID(as_uuid=True), _ref("person"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("area_code", AREA, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'open'")),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decision_note", sa.Text),
        sa.Column("survivor_id", UUID(as_uuid=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("person_a < person_b", name="ck_duplicate_ordered_pair"),
        sa.CheckConstraint("reason IN ('same_identifier', 'same_name_parents_birth_year')", name="ck_duplicate_reason"),
        sa.CheckConstraint("status IN ('open', 'merged', 'dismissed')", name="ck_duplicate_status"),
        schema=SCHEMA,
    )
    op.create_index("uq_duplicate_pair_reason", "duplicate_candidate", ["person_a", "person_b", "reason"],
                    unique=True, schema=SCHEMA)
    op.create_index("ix_duplicate_queue", "duplicate_candidate", ["status", "area_code"], schema=SCHEMA)

    op.create_table(
        "sync_batch",
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("batch_id", sa.Text, nullable=False),
        sa.Column("payload_hash", sa.Text, nullable=False),
        sa.Column("submitted_by", sa.Text, nullable=False),
        sa.Column("result", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("device_id", "batch_id"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("sync_batch", "duplicate_candidate", "change_history", "identifier", "membership",
                  "person_name_token", "person", "household"):
        op.drop_table(table, schema=SCHEMA)
