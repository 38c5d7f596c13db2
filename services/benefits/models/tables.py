"""Table definitions, one function per family; see the package docstring for why functions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from kernel.areas import area_code_type
from services.benefits import SERVICE

SCHEMA = SERVICE
NOW = text("now()")
KINDS = ("cash", "kind", "service")
FREQUENCIES = ("one_time", "monthly", "quarterly", "yearly")
ENTRY_KINDS = ("grant", "reversal", "recovery")


def key() -> Text:
    """Machine keys (codes, hashes, references) compare byte by byte (``C`` collation), as in the registry."""
    return Text(collation="C")


def _uuid_pk() -> Column:  # type: ignore[type-arg]
    return Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def catalogue_tables(md: MetaData) -> dict[str, Table]:
    department = Table(
        "department", md,
        Column("code", key(), primary_key=True),
        Column("country", Text, nullable=False),
        Column("names", JSONB, nullable=False),  # {"en": ..., "hi"/"bn": ...}
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Column("created_by", Text, nullable=False),
        CheckConstraint("country IN ('IN', 'BD')", name="ck_department_country"),
        schema=SCHEMA,
    )
    scheme = Table(
        "scheme", md,
        Column("code", key(), primary_key=True),
        Column("department_code", key(), ForeignKey(f"{SCHEMA}.department.code"), nullable=False),
        Column("names", JSONB, nullable=False),
        Column("descriptions", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("kind", Text, nullable=False),
        Column("beneficiary", Text, nullable=False),  # person or household
        Column("amount_minor", BigInteger, nullable=True),
        Column("currency", Text, nullable=True),
        Column("quantity", BigInteger, nullable=True),
        Column("unit", Text, nullable=True),
        Column("frequency", Text, nullable=False),
        Column("area_codes", ARRAY(area_code_type()), nullable=False),
        Column("valid_from", Date, nullable=False),
        Column("valid_to", Date, nullable=True),
        Column("current_version", Integer, nullable=False, server_default=text("1")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Column("created_by", Text, nullable=False),
        CheckConstraint(f"kind IN {KINDS!r}", name="ck_scheme_kind"),
        CheckConstraint("beneficiary IN ('person', 'household')", name="ck_scheme_beneficiary"),
        CheckConstraint(f"frequency IN {FREQUENCIES!r}", name="ck_scheme_frequency"),
        CheckConstraint("currency IS NULL OR currency IN ('INR', 'BDT')", name="ck_scheme_currency"),
        CheckConstraint("(amount_minor IS NULL) = (currency IS NULL)", name="ck_scheme_amount_currency"),
        schema=SCHEMA,
    )
    # A scheme's rules, versioned: a new version is a new row; entries and flags name the version
    # they were decided under, so a change never rewrites an earlier decision.
    rule_version = Table(
        "rule_version", md,
        Column("scheme_code", key(), ForeignKey(f"{SCHEMA}.scheme.code"), nullable=False),
        Column("version", Integer, nullable=False),
        Column("eligibility", JSONB, nullable=False),
        Column("exclusivity", JSONB, nullable=False),
        Column("policy", JSONB, nullable=False),  # on_conflict, unknown_person: reject | hold
        Column("note", Text, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Column("created_by", Text, nullable=False),
        PrimaryKeyConstraint("scheme_code", "version"),
        schema=SCHEMA,
    )
    return {"department": department, "scheme": scheme, "rule_version": rule_version}


def replica_tables(md: MetaData) -> dict[str, Table]:
    """What benefits keeps of the registry, from its events only (never a read of its schema)."""
    person = Table(
        "person", md,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("household_id", UUID(as_uuid=True), nullable=True),
        Column("area_code", area_code_type(), nullable=False),
        Column("full_name", Text, nullable=False),  # for the field staff's door-to-door list
        Column("sex", Text, nullable=False),
        Column("birth_date", Date, nullable=True),
        Column("birth_year", Integer, nullable=True),
        Column("disability", Text, nullable=True),
        Column("pregnant", Boolean, nullable=False, server_default=text("false")),
        Column("marital_status", Text, nullable=True),  # None when the registry has not recorded it: "unknown"
        Column("status", Text, nullable=False),
        Column("merged_into", UUID(as_uuid=True), nullable=True),
        # The group of records that are one human (merges and duplicate links): the smallest id in it.
        Column("cluster_id", UUID(as_uuid=True), nullable=False),
        Column("version", Integer, nullable=False),
        Column("synced_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Index("ix_benefits_person_area", "area_code"),
        Index("ix_benefits_person_cluster", "cluster_id"),
        Index("ix_benefits_person_household", "household_id"),
        schema=SCHEMA,
    )
    identifier_hash = Table(
        "identifier_hash", md,
        Column("hash", key(), nullable=False),
        Column("person_id", UUID(as_uuid=True), nullable=False),
        PrimaryKeyConstraint("hash", "person_id"),
        Index("ix_benefits_identifier_hash_person", "person_id"),
        schema=SCHEMA,
    )
    household = Table(
        "household", md,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("area_code", area_code_type(), nullable=False),
        Column("status", Text, nullable=False),
        Column("head_person_id", UUID(as_uuid=True), nullable=True),
        Column("member_count", Integer, nullable=False),
        Column("income_band", Text, nullable=True),  # None when the registry has not recorded it: "unknown"
        Column("version", Integer, nullable=False),
        Column("synced_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Index("ix_benefits_household_area", "area_code"),
        schema=SCHEMA,
    )
    person_link = Table(
        "person_link", md,
        Column("id", key(), primary_key=True),  # "dup:<candidate id>" or "merge:<merged id>"
        Column("kind", Text, nullable=False),  # duplicate or merge
        Column("person_id", UUID(as_uuid=True), nullable=False),
        Column("other_person_id", UUID(as_uuid=True), nullable=False),
        Column("status", Text, nullable=False),  # suspected, confirmed, merged, dismissed
        Column("active", Boolean, nullable=False),
        Column("match_probability", Text, nullable=True),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Index("ix_benefits_link_person", "person_id"),
        Index("ix_benefits_link_other", "other_person_id"),
        schema=SCHEMA,
    )
    replica_state = Table(
        "replica_state", md,
        Column("stream", key(), primary_key=True),  # "registry"
        Column("last_event_at", DateTime(timezone=True), nullable=True),  # occurred_at of the newest applied
        Column("last_applied_at", DateTime(timezone=True), nullable=True),
        Column("events_applied", BigInteger, nullable=False, server_default=text("0")),
        schema=SCHEMA,
    )
    return {"person": person, "identifier_hash": identifier_hash, "household": household,
            "person_link": person_link, "replica_state": replica_state}


def ledger_tables(md: MetaData) -> dict[str, Table]:
    entry = Table(
        "entry", md,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("partition", key(), nullable=False),  # "<scheme>:<period>": one hash chain each
        Column("seq", BigInteger, nullable=False),
        Column("prev_hash", LargeBinary, nullable=False),
        Column("hash", LargeBinary, nullable=False),
        Column("kind", Text, nullable=False),
        Column("reverses_id", UUID(as_uuid=True), nullable=True),
        Column("flag_id", UUID(as_uuid=True), nullable=True),
        Column("scheme_code", key(), nullable=False),
        Column("department_code", key(), nullable=False),
        Column("rule_version", Integer, nullable=False),
        Column("beneficiary", Text, nullable=False),
        Column("person_id", UUID(as_uuid=True), nullable=True),
        Column("household_id", UUID(as_uuid=True), nullable=True),
        Column("identifier_hash", key(), nullable=True),
        Column("area_code", area_code_type(), nullable=False),
        Column("period", key(), nullable=False),
        Column("period_start", Date, nullable=False),
        Column("period_end", Date, nullable=False),
        Column("amount_minor", BigInteger, nullable=True),
        Column("currency", Text, nullable=True),
        Column("quantity", BigInteger, nullable=True),
        Column("unit", Text, nullable=True),
        Column("delivered_on", Date, nullable=False),
        Column("channel", Text, nullable=False),
        Column("recorded_by", Text, nullable=False),
        Column("department_ref", key(), nullable=True),
        Column("evidence_ref", Text, nullable=True),
        Column("decision", Text, nullable=False),  # accepted or held (for review), fixed at posting
        Column("file_id", UUID(as_uuid=True), nullable=True),
        Column("file_row", Integer, nullable=True),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        CheckConstraint(f"kind IN {ENTRY_KINDS!r}", name="ck_entry_kind"),
        CheckConstraint("decision IN ('accepted', 'held')", name="ck_entry_decision"),
        CheckConstraint("(kind = 'grant') = (reverses_id IS NULL)", name="ck_entry_reverses"),
        CheckConstraint("currency IS NULL OR currency IN ('INR', 'BDT')", name="ck_entry_currency"),
        UniqueConstraint("partition", "seq", name="uq_entry_partition_seq"),
        Index("uq_entry_department_ref", "department_code", "department_ref", unique=True,
              postgresql_where=text("department_ref IS NOT NULL")),
        Index("uq_entry_reverses", "reverses_id", unique=True, postgresql_where=text("reverses_id IS NOT NULL")),
        Index("ix_entry_person", "person_id", "period_start"),
        Index("ix_entry_household", "household_id", "period_start"),
        Index("ix_entry_scheme_area", "scheme_code", "area_code"),
        schema=SCHEMA,
    )
    chain_head = Table(
        "chain_head", md,
        Column("partition", key(), primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("hash", LargeBinary, nullable=False),
        Column("signature", LargeBinary, nullable=False),  # Ed25519 over "<partition>|<seq>|<hash hex>"
        Column("key_id", Text, nullable=False),
        Column("signed_at", DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    return {"entry": entry, "chain_head": chain_head}


def review_tables(md: MetaData) -> dict[str, Table]:
    flag = Table(
        "flag", md,
        Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
        Column("entry_id", UUID(as_uuid=True), nullable=False),
        Column("kind", Text, nullable=False),  # double_dipping or unknown_person
        Column("rule", Text, nullable=False),  # per_person, per_household, not_with, unknown_person
        Column("scheme_code", key(), nullable=False),
        Column("rule_version", Integer, nullable=False),
        Column("area_code", area_code_type(), nullable=False),
        Column("other_entry_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
        Column("evidence", JSONB, nullable=False),
        Column("source", Text, nullable=False),  # posting or sweep
        Column("status", Text, nullable=False, server_default=text("'open'")),
        Column("raised_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Column("decided_by", Text, nullable=True),
        Column("decided_at", DateTime(timezone=True), nullable=True),
        Column("reason", Text, nullable=True),
        Column("recovery_entry_id", UUID(as_uuid=True), nullable=True),
        # Revision 0006 adds 'matched': an unknown-person flag settled when the registry sent the person.
        CheckConstraint("status IN ('open', 'confirmed', 'dismissed')", name="ck_flag_status"),
        Index("uq_flag_entry_rule", "entry_id", "rule", unique=True),
        Index("ix_flag_status_raised", "status", "raised_at", "id"),
        schema=SCHEMA,
    )
    posting_file = Table(
        "posting_file", md,
        _uuid_pk(),
        Column("department_code", key(), nullable=False),
        Column("sha256", key(), nullable=False),
        Column("file_name", Text, nullable=False),
        Column("status", Text, nullable=False),
        Column("rows_total", Integer, nullable=False, server_default=text("0")),
        Column("rows_done", Integer, nullable=False, server_default=text("0")),
        Column("accepted", Integer, nullable=False, server_default=text("0")),
        Column("held", Integer, nullable=False, server_default=text("0")),
        Column("rejected", Integer, nullable=False, server_default=text("0")),
        Column("repeated", Integer, nullable=False, server_default=text("0")),
        Column("report", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("created_by", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Column("finished_at", DateTime(timezone=True), nullable=True),
        UniqueConstraint("department_code", "sha256", name="uq_posting_file_content"),
        schema=SCHEMA,
    )
    consent = Table(
        "consent", md,
        _uuid_pk(),
        Column("person_id", UUID(as_uuid=True), nullable=False),
        Column("client_id", Text, nullable=False),
        Column("purpose", Text, nullable=False),
        Column("artefact_ref", Text, nullable=False),  # the signed form, OTP transaction or recording
        Column("granted_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("recorded_by", Text, nullable=False),
        Column("revoked_at", DateTime(timezone=True), nullable=True),
        Index("ix_consent_person_client", "person_id", "client_id"),
        schema=SCHEMA,
    )
    return {"flag": flag, "posting_file": posting_file, "consent": consent}


def build_tables(md: MetaData) -> dict[str, Table]:
    return {**catalogue_tables(md), **replica_tables(md), **ledger_tables(md), **review_tables(md)}


def access_tables(md: MetaData) -> dict[str, Table]:
    """Revision 0005: who posts for a department (client ids or operator subjects holding benefits:post)."""
    poster = Table(
        "department_poster", md,
        Column("department_code", key(), ForeignKey(f"{SCHEMA}.department.code"), nullable=False),
        Column("actor", key(), nullable=False),
        Column("added_by", Text, nullable=False),
        Column("added_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        PrimaryKeyConstraint("department_code", "actor"),
        schema=SCHEMA,
    )
    return {"department_poster": poster}


def staging_tables(md: MetaData) -> dict[str, Table]:
    """Revision 0006: a posted file's rows (staged by COPY when it arrives, posted chunk by chunk by a
    scheduler job, each row's outcome kept for the paged report), and the matches of entries held for
    an unknown person to the person the registry later sent (the entry itself never changes)."""
    file_row = Table(
        "file_row", md,
        Column("file_id", UUID(as_uuid=True), nullable=False),
        Column("row", Integer, nullable=False),  # the sheet's row number (the header is row 1)
        Column("cells", JSONB, nullable=False),
        Column("status", Text, nullable=True),  # NULL until posted: accepted, held, rejected, repeated
        Column("entry_id", UUID(as_uuid=True), nullable=True),
        Column("flags", ARRAY(UUID(as_uuid=True)), nullable=True),
        Column("errors", JSONB, nullable=True),
        PrimaryKeyConstraint("file_id", "row"),
        Index("ix_benefits_file_row_pending", "file_id", "row", postgresql_where=text("status IS NULL")),
        schema=SCHEMA,
    )
    entry_match = Table(
        "entry_match", md,
        Column("entry_id", UUID(as_uuid=True), primary_key=True),
        Column("person_id", UUID(as_uuid=True), nullable=False),
        Column("household_id", UUID(as_uuid=True), nullable=True),
        Column("flag_id", UUID(as_uuid=True), nullable=True),  # the unknown_person flag it settled
        Column("matched_by", Text, nullable=False),  # person_id or identifier_hash
        Column("matched_at", DateTime(timezone=True), nullable=False),
        Index("ix_benefits_entry_match_person", "person_id"),
        schema=SCHEMA,
    )
    return {"file_row": file_row, "entry_match": entry_match}


def add_revision_0006_columns(tables: dict[str, Table]) -> None:
    """Columns revision 0006 adds to tables an earlier revision built (the earlier revision builds them
    from the functions above, so they stay as they were)."""
    tables["person"].append_column(Column("deceased_on", Date, nullable=True))  # registry.person.deceased.v1


# The tables whose changes alter what posting checks (schemes, their rules, departments and their posters).
CATALOGUE_TABLES = ("department", "department_poster", "scheme", "rule_version")


def cache_tables(md: MetaData) -> dict[str, Table]:
    """Revision 0007: the catalogue's version, which posting's in-process catalogue cache compares with
    the one it loaded, in a statement it makes anyway.  A statement-level trigger on every table in
    CATALOGUE_TABLES sets it to the writing transaction's id (unique to that transaction), so any
    committed change, TRUNCATE included, gives a value no cache holds."""
    catalogue_state = Table(
        "catalogue_state", md,
        Column("id", Integer, primary_key=True),
        Column("version", BigInteger, nullable=False),
        CheckConstraint("id = 1", name="ck_catalogue_state_one_row"),
        schema=SCHEMA,
    )
    return {"catalogue_state": catalogue_state}
