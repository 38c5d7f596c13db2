"""Posting files and their reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class FileOut(BaseModel):
    id: uuid.UUID
    department_code: str
    file_name: str
    sha256: str
    status: str = Field(description="processing or done")
    repeated: bool = Field(default=False, description="This exact file was posted before: nothing was done")
    rows_total: int
    rows_done: int
    accepted: int
    held: int
    rejected: int
    repeated_rows: int = Field(description="Rows whose department reference was already in the ledger")
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    report: list[dict[str, Any]] = Field(description="One item per row: row, status, entry_id, flags, errors")
