"""Bulk import routes: the template, uploads (the file is the request body) and reports."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

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
ACCEPTED_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream", XLSX_MEDIA_TYPE,
                  "application/vnd.ms-excel")


def job_out(job: object, *, reused: bool = False) -> ImportJobOut:
    values = dict(job)  # type: ignore[call-overload]
    return ImportJobOut(**values, reused=reused, report_csv=public_path(SERVICE, f"/imports/{values['id']}/report.csv"))


@router.get("/template.csv", summary="The import template as CSV (UTF-8 with BOM)",
            responses={200: {"content": {"text/csv": {}}}})
async def get_template_csv(identity: Reader, lang: Lang = "en") -> Response:
    body = template_csv(check_lang(lang))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="registry-import-{lang}.csv"'})


@router.get("/template.xlsx", summary="The import template as an XLSX workbook",
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
async def get_template_xlsx(identity: Reader, lang: Lang = "en") -> Response:
    body = template_xlsx(check_lang(lang))
    return Response(body, media_type=XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="registry-import-{lang}.xlsx"'})


@router.post(
    "", status_code=201, response_model=ImportJobOut,
    summary="Import a survey sheet (CSV or XLSX as the request body) into an area",
    description="Valid rows land, invalid rows are reported (GET /imports/{id}); the same file again for the "
                "same area returns the first import (200, reused). Limit: 50 MB. After a large import "
                "(search_index: pending) name search and the duplicate queue catch up within seconds; "
                "GET /imports/{id} shows when they have (search_index: done).",
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
    file_name: Annotated[str | None, Query(max_length=200)] = None,
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
async def get_import(import_id: uuid.UUID, session: DbSession, identity: Reader, limit: Limit = 500,
                     offset: Offset = 0) -> ImportReport:
    job = await imports.get_job(session, identity, import_id)
    rows = await imports.report_rows(session, import_id, limit=limit, offset=offset)
    return ImportReport(
        job=job_out(job), errors=[ImportErrorOut.model_validate(dict(r)) for r in rows],
        total_errors=await imports.error_count(session, import_id), limit=limit, offset=offset,
    )


@router.get("/{import_id}/report.csv", summary="An import's per-row report as CSV (row, field, reason)",
            responses={200: {"content": {"text/csv": {}}}})
async def get_import_report_csv(import_id: uuid.UUID, session: DbSession, identity: Reader) -> Response:
    await imports.get_job(session, identity, import_id)
    rows = await imports.report_rows(session, import_id, limit=None)
    return Response(imports.report_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{import_id}-report.csv"'})
