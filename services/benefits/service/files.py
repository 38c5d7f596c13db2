"""A department's file of benefits given (CSV or XLSX), posted row by row with a report per row.

The file is read as a stream and posted in chunks through the same checks as the API
(``posting.post``), in the caller's transaction, reporting progress after each chunk.  Posting the
same file again (same bytes, same department) changes nothing and returns the first report;
a row whose department reference is already in the ledger is reported as ``repeated``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import ValidationProblem
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.repository.files import FileRepository
from services.benefits.schemas.ledger import EntryIn, Outcome
from services.benefits.service import posting
from services.benefits.service.metrics import FILES_POSTED
from services.benefits.settings import get_benefits_settings

COLUMNS = ("scheme", "person_id", "id_type", "id_value", "household_id", "area_code", "period", "amount_minor",
           "currency", "quantity", "unit", "delivered_on", "channel", "department_ref", "evidence_ref")
REQUIRED = ("scheme", "period", "delivered_on", "channel", "department_ref")
MAX_REPORT_ROWS = 10_000  # rows with problems kept in the report (the counts cover all)


@dataclass
class FileResult:
    file: RowMapping
    repeated: bool


def rows_of(data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    """(sheet row number, cells by column) for each data row; the header names the columns."""
    if data[:4] == b"PK\x03\x04":
        yield from _xlsx_rows(data)
        return
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    _check_header(header)
    for number, cells in enumerate(reader, start=2):
        if any(c.strip() for c in cells):
            yield number, {h: c.strip() for h, c in zip(header, cells, strict=False) if h}


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise ValidationProblem("Not a readable XLSX workbook.", errors=[{"field": "body", "reason": "unreadable"}]
                                ) from exc
    rows = sheet.iter_rows(values_only=True)
    header = [str(h or "").strip().lower() for h in next(rows, ())]
    _check_header(header)
    for number, cells in enumerate(rows, start=2):
        values = {h: _cell(c) for h, c in zip(header, cells, strict=False) if h}
        if any(values.values()):
            yield number, values


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "date") and callable(value.date):
        return str(value.date())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_header(header: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h and h not in COLUMNS]
    if missing or unknown:
        errors = [{"field": f"header.{c}", "reason": "required column"} for c in missing]
        errors += [{"field": f"header.{c}", "reason": "unknown column"} for c in unknown]
        raise ValidationProblem(f"The header must name the columns {', '.join(COLUMNS)}", errors=errors)


def entry_of(cells: dict[str, str]) -> EntryIn:
    body: dict[str, Any] = {k: v for k, v in cells.items() if v and k not in ("id_type", "id_value")}
    if cells.get("id_type") or cells.get("id_value"):
        body["identifier"] = {"type": cells.get("id_type", ""), "value": cells.get("id_value", "")}
    return EntryIn.model_validate(body)


async def post_file(session: AsyncSession, identity: Identity, data: bytes, *, department: str, file_name: str,
                    now: datetime, progress: Callable[[int], None] | None = None) -> FileResult:
    if not data:
        raise ValidationProblem("The file is empty.", errors=[{"field": "body", "reason": "empty"}])
    if await CatalogueRepository(session).department(department) is None:
        raise ValidationProblem("No such department.", errors=[{"field": "department", "reason": "unknown"}])
    files = FileRepository(session)
    row, created = await files.claim({"department_code": department, "sha256": hashlib.sha256(data).hexdigest(),
                                      "file_name": file_name[:200], "status": "processing",
                                      "created_by": identity.subject})
    if not created:
        FILES_POSTED.labels("repeated").inc()
        return FileResult(row, True)
    counts = {"accepted": 0, "held": 0, "rejected": 0, "repeated": 0}
    report: list[dict[str, Any]] = []
    done = 0
    chunk: list[tuple[int, dict[str, str]]] = []
    size = get_benefits_settings().file_chunk_rows
    for numbered in rows_of(data):
        chunk.append(numbered)
        if len(chunk) >= size:
            done += await _post_chunk(session, identity, row["id"], chunk, counts, report, now)
            chunk = []
            if progress:
                progress(done)
    done += await _post_chunk(session, identity, row["id"], chunk, counts, report, now)
    if progress:
        progress(done)
    FILES_POSTED.labels("posted").inc()
    finished = await files.finish(row["id"], {**counts, "rows_total": done, "rows_done": done, "status": "done",
                                              "report": report[:MAX_REPORT_ROWS]})
    return FileResult(finished, False)


async def _post_chunk(session: AsyncSession, identity: Identity, file_id: uuid.UUID,
                      chunk: list[tuple[int, dict[str, str]]], counts: dict[str, int],
                      report: list[dict[str, Any]], now: datetime) -> int:
    bodies, numbers = [], []
    for number, cells in chunk:
        try:
            bodies.append(entry_of(cells))
            numbers.append(number)
        except ValidationError as exc:
            counts["rejected"] += 1
            report.append({"row": number, "status": "rejected", "errors": [
                {"field": ".".join(str(p) for p in e["loc"]) or "row", "reason": e["msg"]} for e in exc.errors()]})
    if bodies:
        for outcome in await posting.post(session, identity, bodies, now=now, file_id=file_id, row_numbers=numbers,
                                          mode="file"):
            counts[outcome.status] += 1
            report.append(_report_row(outcome))
    return len(chunk)


def _report_row(outcome: Outcome) -> dict[str, Any]:
    return {"row": outcome.index, "status": outcome.status, "entry_id": str(outcome.entry_id or "") or None,
            "flags": [str(f) for f in outcome.flags], "errors": [e.model_dump() for e in outcome.errors]}
