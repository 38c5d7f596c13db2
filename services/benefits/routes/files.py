"""A department's CSV/XLSX file of benefits given."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from kernel.db import DbSession
from kernel.errors import NotFound, PayloadTooLarge
from services.benefits.repository.files import FileRepository
from services.benefits.routes.common import CSV_ROUTE, DepartmentQuery, FileId, Now, Reader, Writer
from services.benefits.schemas.files import FileOut
from services.benefits.service import files
from services.benefits.settings import get_benefits_settings

router = APIRouter(tags=["files"])
TEMPLATE = ",".join(files.COLUMNS) + "\r\n"


def file_out(row: object, repeated: bool = False) -> FileOut:
    data = dict(row)  # type: ignore[call-overload]
    return FileOut.model_validate({**data, "repeated_rows": data["repeated"], "repeated": repeated})


@router.post("/files", response_model=FileOut, status_code=201,
             responses={200: {"description": "This exact file was posted before: its report, nothing done"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}},
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                     "schema": {"type": "string", "format": "binary"}}}}},
             summary="Post a department's CSV or XLSX file; a report per row (template: GET /files/template.csv)")
async def post_file(request: Request, session: DbSession, identity: Writer, response: Response, now: Now,
                    department: DepartmentQuery,
                    file_name: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00/\\]+$",
                                                    description="The file's name, kept with its report",
                                                    examples=["dss-tala-2026-11.csv"])]
                    = "upload.csv") -> FileOut:
    """A department's monthly file of benefits given, as the raw request body (`Content-Type: text/csv`
    or the XLSX type), with the columns of GET /files/template.csv. Every row is posted as an entry
    (in chunks) and gets its own status in the report (accepted, held, rejected with reasons,
    repeated). The same file again answers 200 with its first report and changes nothing.

    **Who:** `benefits:post` (department_officer, or a client given it; with `benefits:write` at the gateway),
    and the caller must be on the poster list of the scheme's department.

    **Errors:** 403 you do not post for the department; 413 larger than
    `GRAMSETU_BENEFITS_FILE_MAX_BYTES`; 422 an unknown department, an empty or unreadable file, a
    header that does not name the template's columns.
    """
    limit = get_benefits_settings().file_max_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Files are at most {limit:,} bytes; post larger ones in parts.")
        chunks.append(chunk)
    result = await files.post_file(session, identity, b"".join(chunks), department=department.upper(),
                                   file_name=file_name, now=now)
    response.status_code = 200 if result.repeated else 201
    return file_out(result.file, result.repeated)


@router.get("/files/template.csv", **CSV_ROUTE, summary="The file's columns (UTF-8 CSV header)")
async def template() -> Response:
    """The file's header row (UTF-8 CSV): scheme, person_id or identifier type and value, household,
    area, period, amount or quantity, delivery date, channel, department reference, evidence.

    **Who:** the gateway admits `benefits:read`; the service asks nothing more.

    **Errors:** 401 / 403 only from the gateway.
    """
    return Response(TEMPLATE, media_type="text/csv; charset=utf-8")


@router.get("/files/{file_id}", response_model=FileOut, summary="A posted file's counts and per-row report")
async def get_file(file_id: FileId, session: DbSession, identity: Reader) -> FileOut:
    """A posted file: its name, department, checksum, status, counts (accepted, held, rejected,
    repeated rows) and the report of every row with its entry id or its errors.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such file.
    """
    row = await FileRepository(session).get(file_id)
    if row is None:
        raise NotFound("No such file.")
    return file_out(row)


@router.get("/files/{file_id}/report.csv", **CSV_ROUTE,
            summary="The per-row report as CSV: row, status, entry, field, reason")
async def report_csv(file_id: FileId, session: DbSession, identity: Reader) -> StreamingResponse:
    """The file's per-row report as CSV (row, status, entry_id, field, reason), one line per problem, to
    correct the sheet and post only the fixed rows again.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such file.
    """
    row = await FileRepository(session).get(file_id)
    if row is None:
        raise NotFound("No such file.")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "status", "entry_id", "field", "reason"])
    for item in row["report"]:
        for error in item.get("errors") or [{"field": "", "reason": ""}]:
            writer.writerow([item["row"], item["status"], item.get("entry_id") or "", error["field"], error["reason"]])
    return StreamingResponse(iter([out.getvalue()]), media_type="text/csv; charset=utf-8")
