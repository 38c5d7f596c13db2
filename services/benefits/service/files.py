"""A department's file of benefits given (CSV or XLSX), posted row by row with an outcome per row.

On arrival the file's header is checked and its rows are staged (COPY into ``file_row``); a
scheduler job then posts them in chunks through the same checks as the API (``posting.post``),
each job run committing its chunks' entries, outcomes and the file's counts together, so the
progress is visible over HTTP while it runs and a crash resumes where the last commit left off.
Posting the same file again (same bytes, same department) changes nothing and returns the first
file; a row whose department reference is already in the ledger is reported as ``repeated``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import ValidationProblem
from kernel.scheduler import Job, schedule
from services.benefits import SERVICE
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.repository.files import FileRepository
from services.benefits.schemas.ledger import EntryIn
from services.benefits.service import posting
from services.benefits.service.metrics import FILE_ROWS, FILES_POSTED
from services.benefits.settings import get_benefits_settings

COLUMNS = ("scheme", "person_id", "id_type", "id_value", "household_id", "area_code", "period", "amount_minor",
           "currency", "quantity", "unit", "delivered_on", "channel", "department_ref", "evidence_ref")
REQUIRED = ("scheme", "period", "delivered_on", "channel", "department_ref")
POST_FILE_JOB = "benefits.post-file"
STEP_SECONDS = 2.0  # one job run posts chunks for about this long, then commits (the progress a poll sees)


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


async def receive_file(session: AsyncSession, identity: Identity, data: bytes, *, department: str, file_name: str,
                       now: datetime) -> FileResult:
    """Take a department's file: check its header, stage every row (COPY) and put a job on the
    scheduler that posts them chunk by chunk, each chunk committed with the file's counts, so
    ``GET /files/{id}`` shows the progress.  The same file again changes nothing."""
    if not data:
        raise ValidationProblem("The file is empty.", errors=[{"field": "body", "reason": "empty"}])
    if await CatalogueRepository(session).department(department) is None:
        raise ValidationProblem("No such department.", errors=[{"field": "department", "reason": "unknown"}])
    files = FileRepository(session)
    row, created = await files.claim({"department_code": department, "sha256": hashlib.sha256(data).hexdigest(),
                                      "file_name": file_name[:200], "status": "queued",
                                      "created_by": identity.subject, "created_at": now})
    if not created:
        FILES_POSTED.labels("repeated").inc()
        return FileResult(row, True)
    rows = list(rows_of(data))  # a bad header or workbook is a 422 and the claim rolls back with it
    await files.stage_rows(row["id"], rows)
    row = await files.update(row["id"], {"rows_total": len(rows)})
    await schedule(session, SERVICE, kind=POST_FILE_JOB, key=str(row["id"]), due_at=now,
                   payload={"identity": identity.model_dump(mode="json")})
    FILES_POSTED.labels("received").inc()
    return FileResult(row, False)


async def post_step(session: AsyncSession, identity: Identity, file_id: uuid.UUID, now: datetime, *,
                    seconds: float | None = None) -> RowMapping:
    """Post the file's next chunks (for about ``seconds``) in the caller's transaction; the file's row
    after it (``status`` done once every row has an outcome)."""
    files = FileRepository(session)
    current = await files.lock(file_id)
    if current is None or current["status"] == "done":
        assert current is not None, "no such file"
        return current
    size, started = get_benefits_settings().file_chunk_rows, time.monotonic()
    budget = STEP_SECONDS if seconds is None else seconds
    counts = {"accepted": 0, "held": 0, "rejected": 0, "repeated": 0}
    done, finished = 0, False
    while True:
        chunk = await files.pending_rows(file_id, size)
        if chunk:
            outcomes = await _post_chunk(session, identity, file_id, chunk, now)
            await files.record_outcomes(file_id, outcomes)
            for outcome in outcomes:
                counts[outcome["status"]] += 1
                FILE_ROWS.labels(outcome["status"]).inc()
            done += len(chunk)
        if len(chunk) < size or current["rows_done"] + done >= current["rows_total"]:
            finished = True
            break
        if time.monotonic() - started >= budget:
            break
    if finished:
        FILES_POSTED.labels("posted").inc()
    return await files.add_counts(file_id, counts, done, now if finished else None)


async def post_file_job(session: AsyncSession, job: Job) -> datetime | None:
    """Scheduler job: one step of a posted file; again at once until every row is posted."""
    identity = Identity.model_validate(job.payload["identity"])
    now = job.now or job.due_at
    row = await post_step(session, identity, uuid.UUID(job.key), now)
    return None if row["status"] == "done" else now


async def _post_chunk(session: AsyncSession, identity: Identity, file_id: uuid.UUID, chunk: Sequence[RowMapping],
                      now: datetime) -> list[dict[str, Any]]:
    bodies, numbers, out = [], [], []
    for staged in chunk:
        try:
            bodies.append(entry_of(staged["cells"]))
            numbers.append(staged["row"])
        except ValidationError as exc:
            out.append({"row": staged["row"], "status": "rejected", "entry_id": None, "flags": [], "errors": [
                {"field": ".".join(str(p) for p in e["loc"]) or "row", "reason": e["msg"]} for e in exc.errors()]})
    if bodies:
        for outcome in await posting.post(session, identity, bodies, now=now, file_id=file_id, row_numbers=numbers,
                                          mode="file"):
            out.append({"row": outcome.index, "status": outcome.status, "entry_id": outcome.entry_id,
                        "flags": outcome.flags, "errors": [e.model_dump() for e in outcome.errors]})
    return out
