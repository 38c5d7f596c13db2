"""Posting, reading and reversing ledger entries; chain verification; the registry copy."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from kernel.db import DbSession
from kernel.errors import Conflict, Forbidden, ValidationProblem
from services.benefits.repository.ledger import LedgerRepository
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.routes.common import Admin, Limit, Offset, Reader, SchemeQuery, Writer, next_link
from services.benefits.schemas.common import Page
from services.benefits.schemas.ledger import BatchIn, BatchOut, EntryIn, EntryOut, Outcome, ReversalIn
from services.benefits.schemas.review import PartitionOut, RegistryCopyOut, VerifyOut
from services.benefits.service import chain, posting, reversals

router = APIRouter(tags=["ledger"])


def entry_out(row: object) -> EntryOut:
    data = dict(row)  # type: ignore[call-overload]
    return EntryOut.model_validate({**data, "hash": bytes(data["hash"]).hex()})


@router.post("/entries", response_model=EntryOut, status_code=201,
             responses={200: {"description": "This department reference was posted before: the entry as it is"},
                        409: {"description": "Refused: double dipping under a rule that rejects"}},
             summary="Record one benefit given (checked for double dipping)")
async def post_entry(body: EntryIn, session: DbSession, identity: Writer, response: Response) -> EntryOut:
    outcome = (await posting.post(session, identity, [body], mode="single"))[0]
    if outcome.status == "rejected":
        _raise_for(outcome)
    assert outcome.entry_id is not None
    row = await LedgerRepository(session).entry(outcome.entry_id)
    response.status_code = 200 if outcome.status == "repeated" else 201
    if outcome.flags:
        response.headers["X-Benefits-Flags"] = ",".join(str(f) for f in outcome.flags)
    return entry_out(row)


def _raise_for(outcome: Outcome) -> None:
    errors = [e.model_dump() for e in outcome.errors]
    reasons = "; ".join(e["reason"] for e in errors)
    if outcome.code == "forbidden":
        raise Forbidden(reasons, errors=errors)
    if outcome.code in ("double_dipping", "conflict"):
        raise Conflict(reasons, errors=errors, evidence=outcome.evidence)
    raise ValidationProblem(reasons, errors=errors)


@router.post("/entries/batch", response_model=BatchOut,
             summary="Record up to 5,000 benefits in one call; each item gets its own outcome")
async def post_batch(body: BatchIn, session: DbSession, identity: Writer) -> BatchOut:
    outcomes = await posting.post(session, identity, body.entries, mode="batch")
    return batch_out(outcomes)


def batch_out(outcomes: list[Outcome]) -> BatchOut:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("accepted", "held", "rejected", "repeated")}
    return BatchOut(**counts, outcomes=outcomes)


@router.get("/entries", response_model=Page[EntryOut], summary="Ledger entries in your area, oldest first")
async def entries(session: DbSession, identity: Reader, scheme: SchemeQuery | None = None,
                  period: Annotated[str | None, Query(max_length=10)] = None,
                  person_id: uuid.UUID | None = None, department: Annotated[str | None, Query(max_length=40)] = None,
                  limit: Limit = 50, offset: Offset = 0) -> Page[EntryOut]:
    rows, total = await LedgerRepository(session).entries(
        scopes=identity.area_scope, scheme_code=scheme, period=period,
        person_ids=[person_id] if person_id else None, department_code=department, limit=limit, offset=offset)
    return Page(items=[entry_out(r) for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/entries", limit=limit, offset=offset, total=total, scheme=scheme, period=period,
                               person_id=person_id, department=department))


@router.get("/entries/{entry_id}", response_model=EntryOut, summary="One ledger entry")
async def get_entry(entry_id: uuid.UUID, session: DbSession, identity: Reader) -> EntryOut:
    return entry_out(await reversals.visible_entry(session, identity, entry_id))


@router.post("/entries/{entry_id}/reversal", response_model=EntryOut, status_code=201,
             summary="Take an entry back with a reversal entry (the original stays as it was)")
async def reverse(entry_id: uuid.UUID, body: ReversalIn, session: DbSession, identity: Writer,
                  response: Response) -> EntryOut:
    row, created = await reversals.reverse(session, identity, entry_id, reason=body.reason,
                                           department_ref=body.department_ref)
    response.status_code = 201 if created else 200
    return entry_out(row)


@router.get("/ledger/verify", response_model=VerifyOut,
            summary="Recompute every hash chain (or those of one scheme) and say where any breaks")
async def verify(session: DbSession, identity: Admin,
                 partition: Annotated[str | None, Query(max_length=60, pattern=r"^[A-Z0-9_:\-]+$",
                                                        description="Partition prefix, e.g. BD-OAA: or "
                                                                    "BD-OAA:2026-11")] = None) -> VerifyOut:
    report = await chain.verify(session, partition)
    return VerifyOut(intact=report.intact, entries=report.entries, partitions_checked=len(report.partitions),
                     broken=[PartitionOut(**vars(p)) for p in report.partitions if not p.intact],
                     seconds=round(report.seconds, 3), public_key=chain.public_jwk())


@router.get("/ledger/public-key", summary="The Ed25519 key that verifies the chain heads' signatures (JWK)")
async def ledger_key() -> JSONResponse:
    return JSONResponse({"keys": [chain.public_jwk()]}, headers={"Cache-Control": "public, max-age=300"})


@router.get("/registry-copy", response_model=RegistryCopyOut,
            summary="How current benefits' copy of the registry is (it is kept from the registry's events)")
async def registry_copy(session: DbSession, identity: Reader) -> RegistryCopyOut:
    state = await ReplicaRepository(session).state()
    last = state["last_event_at"]
    lag = (datetime.now(timezone.utc) - last).total_seconds() if last else None
    return RegistryCopyOut(**state, lag_seconds=lag)

