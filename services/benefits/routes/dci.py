"""The DCI-style beneficiary query."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from kernel.db import DbSession
from services.benefits.routes.common import Now, Reader
from services.benefits.schemas.dci import EnrolledEnvelope, SearchEnvelope
from services.benefits.service import dci

router = APIRouter(tags=["dci"])


@router.post("/ibr/sync/enrolled",
             summary="DCI/IBR: is this person enrolled in the programme, and what did they receive (per item); "
                     "the reply is signed")
async def enrolled(body: EnrolledEnvelope, session: DbSession, identity: Reader, now: Now) -> dict[str, Any]:
    """The DCI/IBR beneficiary query a department system asks: for each `enrolled_request` item
    (`enrolled_criteria`: `programme_code`, `query_type: idtype-value`, `query: {type, value}`,
    optional `period`), is the person enrolled in that scheme and what did they receive. Each item
    is answered on its own (`succ`, or `rjct` with `rjct.programme_code.unknown`,
    `rjct.id_type.unsupported`, `rjct.id_value.invalid`, `rjct.query_type.invalid`); identifier
    values are never echoed. The answer is an `on-enrolled` envelope signed as the registry signs its
    DCI messages (key: GET /ibr/jwks.json). Audited.

    **Who:** `benefits:read` (a department system's client given it); the gateway admits this POST
    with it.

    **Errors:** 403 without `benefits:read`; 422 an envelope without a header, message or
    `transaction_id`, or more than 100 items.
    """
    return await dci.enrolled(session, identity, body, now)


@router.post("/ibr/sync/search",
             summary="DCI/IBR: every programme this person is enrolled in, as IBR enrolment records with the "
                     "benefits received (per item); the reply is signed")
async def search(body: SearchEnvelope, session: DbSession, identity: Reader, now: Now) -> dict[str, Any]:
    """For each `search_request` item (`search_criteria`: `query_type: idtype-value`,
    `query: {type, value}`), the person's enrolments across every scheme, in the IBR enrolment record
    shape: `programme_identifier`, `enrollment_status` (active while a grant stands), `enrollment_date`,
    and `benefits` (each entry with `benefit_amount` in major units, e.g. "600.00", and
    `date_received`), over every registry record of the same human. Answered per item (`succ` or
    `rjct`), never echoing identifier values, in a signed `on-search` envelope. Audited.

    **Who:** `benefits:read` (a department system's client given it); the gateway admits this POST
    with it.

    **Errors:** 403 without `benefits:read`; 422 an envelope without a header, message or
    `transaction_id`, or more than 100 items.
    """
    return await dci.search(session, identity, body, now)


@router.get("/ibr/jwks.json", summary="The Ed25519 public key that verifies the DCI replies' signatures (JWKS)")
async def jwks(identity: Reader) -> JSONResponse:
    """The public key (JWK set) that verifies the `signature` of every DCI reply of benefits
    (`kidId` `gramsetu-benefits|benefits-dci-1|ed25519`).

    **Who:** `benefits:read`; the gateway admits this GET with it.

    **Errors:** 403 without `benefits:read`.
    """
    return JSONResponse(dci.jwks(), headers={"Cache-Control": "public, max-age=300"})
