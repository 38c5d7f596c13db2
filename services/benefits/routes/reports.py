"""Transparency reports (public scope), consents and a person's own history (partner apps)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from kernel.db import DbSession
from services.benefits.routes.common import CSV_ROUTE, AreaQuery, HistoryReader, Limit, Offset, Public, SchemeQuery
from services.benefits.routes.ledger import entry_out
from services.benefits.schemas.reports import ConsentIn, ConsentOut, HistoryOut, Summary
from services.benefits.service import reports

router = APIRouter(tags=["transparency"])
Period = Annotated[str | None, Query(max_length=10, pattern=r"^[0-9A-Za-z\-]+$")]


@router.get("/transparency/summary", response_model=Summary,
            summary="Beneficiaries and amounts per child area, scheme and period; small cells suppressed")
async def summary(area: AreaQuery, session: DbSession, identity: Public, period: Period = None,
                  scheme: SchemeQuery | None = None) -> Summary:
    return await reports.summary(session, area, period, scheme)


@router.get("/transparency/summary.csv", **CSV_ROUTE, summary="The same report as CSV")
async def summary_csv(area: AreaQuery, session: DbSession, identity: Public, period: Period = None,
                      scheme: SchemeQuery | None = None) -> StreamingResponse:
    report = await reports.summary(session, area, period, scheme)
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["area_code", "scheme_code", "period", "suppressed", "beneficiaries", "entries", "amount_minor",
               "currency", "quantity", "unit"]
    writer.writerow(columns)
    for row in report.rows:
        writer.writerow(["" if getattr(row, c) is None else getattr(row, c) for c in columns])
    return StreamingResponse(iter([out.getvalue()]), media_type="text/csv; charset=utf-8")


@router.post("/consents", response_model=ConsentOut, status_code=201,
             summary="Record a person's consent for your application to read their benefit history")
async def consent(body: ConsentIn, session: DbSession, identity: HistoryReader) -> ConsentOut:
    return ConsentOut.model_validate(dict(await reports.record_consent(session, identity, body)))


@router.get("/persons/{person_id}/history", response_model=HistoryOut,
            summary="The person's own benefit history (every linked record) under their consent; audited")
async def history(person_id: uuid.UUID, consent: Annotated[uuid.UUID, Query(description="The consent's id")],
                  session: DbSession, identity: HistoryReader, limit: Limit = 100, offset: Offset = 0) -> HistoryOut:
    records, rows, total = await reports.history(session, identity, person_id, consent, limit=limit, offset=offset)
    more = offset + limit < total
    return HistoryOut(person_id=person_id, consent_id=consent, records=records, items=[entry_out(r) for r in rows],
                      total=total, limit=limit, offset=offset,
                      next=f"/benefits/persons/{person_id}/history?consent={consent}&limit={limit}&offset="
                           f"{offset + limit}" if more else None)
