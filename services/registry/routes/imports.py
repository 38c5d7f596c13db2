"""Bulk import routes: the template, uploads (the file is the request body) and reports."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from kernel.db import DbSession
from kernel.paths import public_path
from services.registry import SERVICE
from services.registry.routes.common import AREA_PATTERN, Limit, Offset, Reader, Writer
from services.registry.schemas.imports import ImportErrorOut, ImportJobOut, ImportReport
from services.registry.service import imports
from services.registry.service.imports_files import (
    XLSX_MEDIA_TYPE,
    UnsupportedMediaType,
    check_lang,
    receive,
    template_csv,
    template_xlsx,
    too_large,
)

router = APIRouter(prefix="/imports", tags=["imports"])
Lang = Annotated[Literal["en", "hi", "bn"], Query(description="Column names in English, Hindi or Bengali")]
ImportId = Annotated[uuid.UUID, Path(description="The import's id (from POST /imports, or its Location header)")]
ACCEPTED_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream", XLSX_MEDIA_TYPE,
                  "application/vnd.ms-excel")


def job_out(job: object, *, reused: bool = False) -> ImportJobOut:
    values = dict(job)  # type: ignore[call-overload]
    return ImportJobOut(**values, reused=reused, report_csv=public_path(SERVICE, f"/imports/{values['id']}/report.csv"))


@router.get("/template.csv", summary="The import template as CSV (UTF-8 with BOM)",
            responses={200: {"content": {"text/csv": {}}}})
async def get_template_csv(identity: Reader, lang: Lang = "en") -> Response:
    """The empty import sheet: one header row with the template's columns (household key, address, area,
    each member's name, sex, relation, birth date, parents' and spouse's names, identifiers, phones,
    ...) in English, Hindi or Bengali (`lang`). UTF-8 with a byte-order mark, so spreadsheet
    programs show Bengali and Devanagari correctly. Fill one row per person.

    **Who:** `registry:read`.

    **Errors:** 422 an unknown `lang`.
    """
    body = template_csv(check_lang(lang))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="registry-import-{lang}.csv"'})


@router.get("/template.xlsx", summary="The import template as an XLSX workbook",
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
async def get_template_xlsx(identity: Reader, lang: Lang = "en") -> Response:
    """The same template as an XLSX workbook (one sheet, `survey`), with the columns of the CSV template
    in the chosen language (`lang`), for field offices that work in Excel or LibreOffice.

    **Who:** `registry:read`.

    **Errors:** 422 an unknown `lang`.
    """
    body = template_xlsx(check_lang(lang))
    return Response(body, media_type=XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="registry-import-{lang}.xlsx"'})


@router.post(
    "", status_code=201, response_model=ImportJobOut,
    summary="Import a survey sheet (CSV or XLSX as the request body) into an area",
    description="Send the filled-in template (GET /imports/template.csv or .xlsx) as the raw request body, "
                "`Content-Type: text/csv` or the XLSX type, with `?area=` the area it covers. Valid rows land, "
                "invalid rows are reported (GET /imports/{id}); the same file again for the "
                "same area returns the first import (200, reused). Limit: 50 MB. After a large import "
                "(search_index: pending) name search and the duplicate queue catch up within seconds; "
                "GET /imports/{id} shows when they have (search_index: done).\n\n"
                "**Who:** `registry:write`, for an area in your scope.\n\n"
                "**Errors:** 403 the area is outside your scope; 413 the file is larger than the limit; 415 a "
                "multipart form or another type instead of the raw file; 422 an unknown area, an empty file, a "
                "sheet without the template's header row or with no data rows, text that is not UTF-8.",
    responses={200: {"model": ImportJobOut, "description": "This file was already imported for this area"},
               413: {"description": "The file is larger than the limit"},
               415: {"description": "Not a raw CSV/XLSX body"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def upload(
    request: Request, session: DbSession, identity: Writer,
    area: Annotated[str, Query(max_length=64, pattern=AREA_PATTERN, description="The area the sheet is for")],
    file_name: Annotated[str | None, Query(max_length=200, description="The sheet's file name, kept for the report",
                                           examples=["tala-ward-8-census-2026.xlsx"])] = None,
) -> Response:
    limit = imports.import_settings().max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)  # refused before reading any of it
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(
            f"Send the CSV or XLSX file itself as the request body (Content-Type text/csv or {XLSX_MEDIA_TYPE}), "
            f"not {media_type}"
        )
    received = await receive(request.stream(), limit)
    result = await imports.import_file(session, identity, received, area.upper(), file_name=file_name)
    out = job_out(result.job, reused=result.reused)
    return Response(out.model_dump_json(), status_code=200 if result.reused else 201,
                    media_type="application/json", headers={"Location": public_path(SERVICE, f"/imports/{out.id}")})


@router.get("/{import_id}", response_model=ImportReport, summary="An import's counts and its per-row report")
async def get_import(import_id: ImportId, session: DbSession, identity: Reader, limit: Limit = 500,
                     offset: Offset = 0) -> ImportReport:
    """An import job's counts (rows valid and invalid, persons and households created, duplicates
    flagged, whether the search index has caught up) and its per-row problems, paged: each with the
    spreadsheet row number, the column and the reason. `job.report_csv` links the whole report.

    **Who:** `registry:read`, for an import into an area in your scope.

    **Errors:** 404 no such import in your scope.
    """
    job = await imports.get_job(session, identity, import_id)
    rows = await imports.report_rows(session, import_id, limit=limit, offset=offset)
    return ImportReport(
        job=job_out(job), errors=[ImportErrorOut.model_validate(dict(r)) for r in rows],
        total_errors=await imports.error_count(session, import_id), limit=limit, offset=offset,
    )


@router.get("/{import_id}/report.csv", summary="An import's per-row report as CSV (row, field, reason)",
            responses={200: {"content": {"text/csv": {}}}})
async def get_import_report_csv(import_id: ImportId, session: DbSession, identity: Reader) -> Response:
    """Every problem of the import as a CSV download (row, field, reason), to fix the sheet and send
    only the corrected rows again.

    **Who:** `registry:read`, for an import into an area in your scope.

    **Errors:** 404 no such import in your scope.
    """
    await imports.get_job(session, identity, import_id)
    rows = await imports.report_rows(session, import_id, limit=None)
    return Response(imports.report_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{import_id}-report.csv"'})
