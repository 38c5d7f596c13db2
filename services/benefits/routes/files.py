"""A department's CSV/XLSX file of benefits given."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import RowMapping

from kernel.db import DbSession
from kernel.errors import NotFound
from kernel.validation import body_within
from services.benefits.repository.files import FileRepository
from services.benefits.routes.common import CSV_ROUTE, DepartmentQuery, FileId, Limit, Now, Offset, Reader, Writer
from services.benefits.schemas.common import Page
from services.benefits.schemas.files import FileOut, FileRowOut, RowStatus
from services.benefits.service import files
from services.benefits.settings import get_benefits_settings

router = APIRouter(tags=["files"])
TEMPLATE = ",".join(files.COLUMNS) + "\r\n"


def file_out(row: object, repeated: bool = False) -> FileOut:
    data = dict(row)  # type: ignore[call-overload]
    base = f"/benefits/files/{data['id']}"
    total = data["rows_total"]
    return FileOut.model_validate({
        **data, "repeated_rows": data["repeated"], "repeated": repeated,
        "percent_done": round(100.0 * data["rows_done"] / total, 1) if total else 100.0,
        "self_link": base, "problems": f"{base}/rows?status=rejected&status=held", "report_csv": f"{base}/report.csv"})


@router.post("/files", response_model=FileOut, status_code=202,
             responses={200: {"description": "This exact file was posted before: that file as it is, nothing done"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}},
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                     "schema": {"type": "string", "format": "binary"}}}}},
             summary="Post a department's CSV or XLSX file; poll it for progress (template: GET /files/template.csv)")
async def post_file(request: Request, session: DbSession, identity: Writer, response: Response, now: Now,
                    department: DepartmentQuery,
                    file_name: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00/\\]+$",
                                                    description="The file's name, kept with its report",
                                                    examples=["dss-tala-2026-11.csv"])]
                    = "upload.csv") -> FileOut:
    """A department's monthly file of benefits given, as the raw request body (`Content-Type: text/csv`
    or the XLSX type), with the columns of GET /files/template.csv. The header is checked and the rows
    are staged at once (202, `Location` names the file); a job then posts every row as an entry, in
    chunks, each committed with the file's counts: poll GET /files/{id} (`status`, `rows_done` of
    `rows_total`, `percent_done`, counts) and page the problem rows at GET /files/{id}/rows. The same
    file again answers 200 with that file and changes nothing.

    **Who:** `benefits:post` (department_officer, or a client given it; with `benefits:write` at the gateway),
    and the caller must be on the poster list of the scheme's department (checked per row).

    **Errors:** 413 larger than `GRAMSETU_BENEFITS_FILE_MAX_BYTES`; 422 an unknown department, an empty
    or unreadable file, a header that does not name the template's columns.
    """
    limit = get_benefits_settings().file_max_bytes
    data = await body_within(request, limit, f"Files are at most {limit:,} bytes; post larger ones in parts.")
    result = await files.receive_file(session, identity, data, department=department.upper(),
                                      file_name=file_name, now=now)
    response.status_code = 200 if result.repeated else 202
    out = file_out(result.file, result.repeated)
    response.headers["Location"] = out.self_link
    return out


@router.get("/files/template.csv", **CSV_ROUTE, summary="The file's columns (UTF-8 CSV header)")
async def template() -> Response:
    """The file's header row (UTF-8 CSV): scheme, person_id or identifier type and value, household,
    area, period, amount or quantity, delivery date, channel, department reference, evidence.

    **Who:** the gateway admits `benefits:read`; the service asks nothing more.

    **Errors:** 401 / 403 only from the gateway.
    """
    return Response(TEMPLATE, media_type="text/csv; charset=utf-8")


@router.get("/files/{file_id}", response_model=FileOut, summary="A posted file's state, counts and progress")
async def get_file(file_id: FileId, session: DbSession, identity: Reader) -> FileOut:
    """A posted file as a job: `status` (queued, processing, done), `rows_done` of `rows_total` and
    `percent_done`, the counts so far (accepted, held, rejected, repeated rows), and the links to its
    problem rows and its CSV report. Poll it while it runs.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such file.
    """
    return file_out(await _file(session, file_id))


async def _file(session: DbSession, file_id: uuid.UUID) -> RowMapping:
    row = await FileRepository(session).get(file_id)
    if row is None:
        raise NotFound("No such file.")
    return row


@router.get("/files/{file_id}/rows", response_model=Page[FileRowOut],
            summary="The file's rows and their outcomes, paged (e.g. ?status=rejected for the errors)")
async def file_rows(file_id: FileId, session: DbSession, identity: Reader,
                    status: Annotated[list[RowStatus] | None, Query(
                        description="Only rows with these outcomes (repeatable), e.g. rejected and held")] = None,
                    limit: Limit = 100, offset: Offset = 0) -> Page[FileRowOut]:
    """Each row of the file in sheet order with its outcome: the entry it became, the flags it raised
    (held), or the errors per field (rejected); rows not posted yet have no status. Paged.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such file; 422 an unknown status.
    """
    await _file(session, file_id)
    rows, total = await FileRepository(session).rows(file_id, statuses=status, limit=limit, offset=offset)
    more = offset + limit < total
    query = "".join(f"status={s}&" for s in status or [])
    return Page(items=[FileRowOut(row=r["row"], status=r["status"], entry_id=r["entry_id"], flags=r["flags"] or [],
                                  errors=r["errors"] or []) for r in rows],
                total=total, limit=limit, offset=offset,
                next=f"/benefits/files/{file_id}/rows?{query}limit={limit}&offset={offset + limit}" if more else None)


@router.get("/files/{file_id}/report.csv", **CSV_ROUTE,
            summary="Every row's outcome as CSV: row, status, entry, field, reason")
async def report_csv(file_id: FileId, session: DbSession, identity: Reader) -> StreamingResponse:
    """The file's per-row report as CSV (row, status, entry_id, field, reason), one line per problem
    (and one per row without), to correct the sheet and post only the fixed rows again.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such file.
    """
    await _file(session, file_id)
    rows, _ = await FileRepository(session).rows(file_id, statuses=None, limit=get_benefits_settings().export_max_rows,
                                                 offset=0)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "status", "entry_id", "field", "reason"])
    for item in rows:
        for error in item["errors"] or [{"field": "", "reason": ""}]:
            writer.writerow([item["row"], item["status"] or "pending", item["entry_id"] or "", error["field"],
                             error["reason"]])
    return StreamingResponse(iter([out.getvalue()]), media_type="text/csv; charset=utf-8")
