"""Bulk import bodies: the job summary and its per-row report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ImportErrorOut(BaseModel):
    row: int = Field(description="Row number as a spreadsheet shows it (the header is row 1)")
    field: str = Field(description="Template column (English key), or row / household for whole-row problems")
    reason: str


class ImportJobOut(BaseModel):
    id: uuid.UUID
    area_code: str
    file_name: str | None
    file_format: str
    file_bytes: int
    file_sha256: str
    rows_total: int
    rows_valid: int = Field(description="Rows that passed every check (landed now or already registered)")
    rows_invalid: int
    persons_created: int
    persons_existing: int = Field(description="Valid rows whose person was already registered (re-upload)")
    households_created: int
    households_updated: int = Field(description="Existing households that gained members")
    duplicates_flagged: int = Field(description="Possible duplicates queued for review (so far, while the search "
                                                "index is pending)")
    search_index: Literal["pending", "done"] = Field(
        default="done", description="pending: the imported persons are stored (and their events sent) but a "
        "background job is still making their names searchable and flagging possible duplicates; see "
        "search_indexed_at")
    search_indexed_at: datetime | None = Field(default=None, description="When the search index of a large "
                                               "import was complete")
    errors_truncated: bool
    duration_seconds: float
    created_by: str
    created_at: datetime
    reused: bool = Field(default=False, description="This file was already imported for this area; nothing was done")
    report_csv: str = Field(description="Path of the full report as CSV, through the gateway",
                            examples=["/registry/imports/0192f3a4-5b6c-7d8e-9f00-112233445566/report.csv"])


class ImportReport(BaseModel):
    job: ImportJobOut
    errors: list[ImportErrorOut]
    total_errors: int
    limit: int
    offset: int
