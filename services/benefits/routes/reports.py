"""Transparency reports (public scope), consents and a person's own history (partner apps)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from kernel.db import DbSession
from services.benefits.routes.common import (
    CSV_ROUTE,
    AreaQuery,
    ConsentId,
    HistoryReader,
    Limit,
    Now,
    Offset,
    OptSchemeQuery,
    PersonId,
    Public,
)
from services.benefits.routes.ledger import entry_out
from services.benefits.schemas.reports import ConsentIn, ConsentOut, HistoryOut, Summary, WithdrawalIn
from services.benefits.service import reports

router = APIRouter(tags=["transparency"])
Period = Annotated[str | None, Query(max_length=10, pattern=r"^[0-9A-Za-z\-]+$", examples=["2026-11"],
                                      description="Only this period: 2026-11, 2026-Q4, 2026, once")]


@router.get("/transparency/summary", response_model=Summary,
            summary="Beneficiaries and amounts per child area, scheme and period; small cells suppressed")
async def summary(area: AreaQuery, session: DbSession, identity: Public, period: Period = None,
                  scheme: OptSchemeQuery = None) -> Summary:
    """Beneficiaries, entries and net amount (or quantity) per child area, scheme and period, for anyone
    to check. Cells with fewer beneficiaries than `GRAMSETU_BENEFITS_SMALL_CELL_THRESHOLD` (5) are
    suppressed: no person can be singled out.

    **Who:** `benefits:public`: a public client holding only that scope (a transparency portal); the gateway
    admits the route with it alone.

    **Errors:** 403 without `benefits:public`; 422 a malformed area, period or scheme.
    """
    return await reports.summary(session, area, period, scheme)


@router.get("/transparency/summary.csv", **CSV_ROUTE, summary="The same report as CSV")
async def summary_csv(area: AreaQuery, session: DbSession, identity: Public, period: Period = None,
                      scheme: OptSchemeQuery = None) -> StreamingResponse:
    """The same report as CSV (area_code, scheme_code, period, suppressed, beneficiaries, entries,
    amount_minor, currency, quantity, unit).

    **Who:** `benefits:public`: a public client holding only that scope (a transparency portal); the gateway
    admits the route with it alone.

    **Errors:** 403 without `benefits:public`; 422 a malformed area, period or scheme.
    """
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
async def consent(body: ConsentIn, session: DbSession, identity: HistoryReader, now: Now) -> ConsentOut:
    """A partner app records that the person (by `person_id` or an identifier) agreed to let it read
    their benefit history, for a purpose, with a reference to the signed form, OTP or recording,
    until `expires_at` (at most a year). Audited.

    **Who:** `benefits:history` (a partner app's client given it); the gateway admits the route with
    it alone.

    **Errors:** 403 without `benefits:history`; 404 no such person in benefits' copy of the registry;
    422 neither or both of person and identifier, a malformed identifier, an expiry in the past or
    over a year ahead.
    """
    return ConsentOut.model_validate(dict(await reports.record_consent(session, identity, body, now)))


@router.get("/consents/{consent_id}", response_model=ConsentOut, summary="One of your consents (withdrawn or not)")
async def get_consent(consent_id: ConsentId, session: DbSession, identity: HistoryReader) -> ConsentOut:
    """A consent your application recorded, with `revoked_at` once the person withdrew it.

    **Who:** `benefits:history`: the client the consent was given to (or `benefits:admin`).

    **Errors:** 404 no such consent of yours.
    """
    return ConsentOut.model_validate(dict(await reports.visible_consent(session, identity, consent_id)))


@router.post("/consents/{consent_id}/withdrawal", response_model=ConsentOut,
             summary="The person withdraws the consent: history reads under it are refused from now on; audited")
async def withdraw(consent_id: ConsentId, body: WithdrawalIn, session: DbSession, identity: HistoryReader,
                   now: Now) -> ConsentOut:
    """Record that the person took their consent back (in the app, or through an operator on their
    behalf, with how in `reason`). From now on GET /persons/{id}/history refuses reads under it (403);
    reads made before stay in the audit. Withdrawing again changes nothing. Audited.

    **Who:** `benefits:history`: the client the consent was given to (or `benefits:admin`).

    **Errors:** 404 no such consent of yours; 422 no reason.
    """
    return ConsentOut.model_validate(dict(await reports.withdraw_consent(session, identity, consent_id, body.reason,
                                                                         now)))


@router.get("/persons/{person_id}/history", response_model=HistoryOut,
            summary="The person's own benefit history (every linked record) under their consent; audited")
async def history(person_id: PersonId, consent: Annotated[uuid.UUID, Query(description="The consent's id")],
                  session: DbSession, identity: HistoryReader, now: Now, limit: Limit = 100, offset: Offset = 0
                  ) -> HistoryOut:
    """The person's own benefit history across every registry record of the same human, under the
    consent given to your application, paged (`next` links the following page). Audited.

    **Who:** `benefits:history`, and only the client the consent was given to, while it runs; the
    gateway admits the route with it alone.

    **Errors:** 403 the consent is another application's, expired or withdrawn; 404 no such consent
    for this person.
    """
    records, rows, total = await reports.history(session, identity, person_id, consent, limit=limit, offset=offset,
                                                 now=now)
    more = offset + limit < total
    return HistoryOut(person_id=person_id, consent_id=consent, records=records, items=[entry_out(r) for r in rows],
                      total=total, limit=limit, offset=offset,
                      next=f"/benefits/persons/{person_id}/history?consent={consent}&limit={limit}&offset="
                           f"{offset + limit}" if more else None)
