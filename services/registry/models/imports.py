"""Bulk import jobs and their per-row validation reports (DDL in migration 0003a)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from services.registry.models.common import METADATA, SCHEMA, area_code, uuid_pk


def _count(name: str) -> Column[int]:
    return Column(name, Integer, nullable=False, server_default=text("0"))


import_job = Table(
    "import_job",
    METADATA,
    uuid_pk(),
    Column("file_sha256", Text, nullable=False),
    Column("file_name", Text, nullable=True),
    Column("file_format", Text, nullable=False),
    Column("file_bytes", BigInteger, nullable=False),
    area_code(),  # the area the sheet was imported for; rows outside it are rejected
    _count("rows_total"),
    _count("rows_valid"),
    _count("rows_invalid"),
    _count("persons_created"),
    _count("persons_existing"),
    _count("households_created"),
    _count("households_updated"),
    _count("duplicates_flagged"),
    Column("errors_truncated", Boolean, nullable=False, server_default=text("false")),
    Column("duration_seconds", Float, nullable=False, server_default=text("0")),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    # Name tokens and duplicate flags of a large import come from a job after it commits (migration 0005).
    Column("search_index", Text, nullable=False, server_default=text("'done'")),
    Column("search_indexed_at", DateTime(timezone=True), nullable=True),
    Column("index_next", UUID(as_uuid=True), nullable=True),  # the job's cursor over the import's person ids
    Column("index_last", UUID(as_uuid=True), nullable=True),
    CheckConstraint("file_format IN ('csv', 'xlsx')", name="ck_import_job_format"),
    CheckConstraint("search_index IN ('pending', 'done')", name="ck_import_job_search_index"),
    Index("uq_import_job_file_area", "file_sha256", "area_code", unique=True),
    Index("ix_import_job_area_code", "area_code", "created_at"),
    schema=SCHEMA,
)

import_error = Table(
    "import_error",
    METADATA,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("import_id", UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.import_job.id", ondelete="CASCADE"), nullable=False),
    Column("row", Integer, nullable=False),
    Column("field", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_import_error_job_row", "import_id", "row", "id"),
    schema=SCHEMA,
)
