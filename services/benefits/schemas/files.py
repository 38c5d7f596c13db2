"""Posting files: the file as a job resource (state, counts, progress) and its rows' outcomes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.benefits.schemas.common import FieldError

RowStatus = Literal["accepted", "held", "rejected", "repeated"]


class FileOut(BaseModel):
    id: uuid.UUID
    department_code: str
    file_name: str
    sha256: str
    status: Literal["queued", "processing", "done"] = Field(
        description="queued (staged, waiting for the job), processing (some rows posted), done (every row has "
                    "an outcome)")
    repeated: bool = Field(default=False, description="This exact file was posted before: nothing was done")
    rows_total: int
    rows_done: int
    percent_done: float = Field(description="rows_done / rows_total, 0-100")
    accepted: int
    held: int
    rejected: int
    repeated_rows: int = Field(description="Rows whose department reference was already in the ledger")
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    self_link: str = Field(description="Gateway path to poll for progress")
    problems: str = Field(description="Gateway path of the rows that were rejected or held, paged")
    report_csv: str = Field(description="Gateway path of every row's outcome as CSV")


class FileRowOut(BaseModel):
    row: int = Field(description="The sheet's row number (the header is row 1)")
    status: RowStatus | None = Field(description="None while the row waits to be posted")
    entry_id: uuid.UUID | None
    flags: list[uuid.UUID] = Field(default_factory=list, description="Flags raised for review (held rows)")
    errors: list[FieldError] = Field(default_factory=list, description="Why the row was rejected, per field")
