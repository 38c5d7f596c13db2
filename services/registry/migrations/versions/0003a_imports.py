"""bulk import jobs and their per-row validation reports

Revision ID: 0003a
Revises: 0002
Create Date: 2026-11-23

One ``import_job`` row per uploaded sheet (file hash, counts, who, when); one ``import_error``
row per rejected field, so a large report is paged or streamed, never held in one JSON value.
The same file for the same area is one job: uploading it again returns that job.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0003a"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "registry"
AREA = sa.String(64, collation="C")


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("file_sha256", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text),
        sa.Column("file_format", sa.Text, nullable=False),
        sa.Column("file_bytes", sa.BigInteger, nullable=False),
        sa.Column("area_code", AREA, nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_valid", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_invalid", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("persons_created", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("persons_existing", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("households_created", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("households_updated", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("duplicates_flagged", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("errors_truncated", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("duration_seconds", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("file_format IN ('csv', 'xlsx')", name="ck_import_job_format"),
        schema=SCHEMA,
    )
    op.create_index("uq_import_job_file_area", "import_job", ["file_sha256", "area_code"], unique=True, schema=SCHEMA)
    op.create_index("ix_import_job_area_code", "import_job", ["area_code", "created_at"], schema=SCHEMA)
    op.create_table(
        "import_error",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("import_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.import_job.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_import_error_job_row", "import_error", ["import_id", "row", "id"], schema=SCHEMA)
    # The closest area holding both codes (service.common.common_area in SQL), for set-based
    # duplicate flagging of imported rows.
    op.execute(
        """
        CREATE FUNCTION registry.import_common_area(a text, b text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT coalesce(string_agg(x, '-' ORDER BY i), split_part(a, '-', 1))
            FROM (SELECT x, i, bool_and(x IS NOT DISTINCT FROM y) OVER (ORDER BY i) AS same
                  FROM unnest(string_to_array(a, '-'), string_to_array(b, '-')) WITH ORDINALITY AS t(x, y, i)) s
            WHERE same AND x IS NOT NULL
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION registry.import_common_area(text, text)")
    op.drop_table("import_error", schema=SCHEMA)
    op.drop_table("import_job", schema=SCHEMA)
