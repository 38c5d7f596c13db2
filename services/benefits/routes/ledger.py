"""Posting, reading and reversing ledger entries; chain verification; the registry copy."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from kernel.db import DbSession
from kernel.errors import Conflict, Forbidden, ValidationProblem
from services.benefits.repository.ledger import LedgerRepository
from services.benefits.repository.posting import transaction
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.routes.common import (
    Admin,
    EntryId,
    Limit,
    Now,
    Offset,
    OptDepartmentQuery,
    OptSchemeQuery,
    Reader,
    Writer,
    next_link,
)
from services.benefits.schemas.common import Page
from services.benefits.schemas.ledger import BatchIn, BatchOut, EntryIn, EntryOut, Outcome, ReversalIn
from services.benefits.schemas.review import PartitionOut, RegistryCopyOut, VerifyOut
from services.benefits.service import catalogue_cache, chain, posting, reversals

router = APIRouter(tags=["ledger"])


def entry_out(row: object) -> EntryOut:
    data = dict(row)  # type: ignore[call-overload]
    return EntryOut.model_validate({**data, "hash": bytes(data["hash"]).hex()})


@router.post("/entries", response_model=EntryOut, status_code=201,
             responses={200: {"description": "This department reference was posted before: the entry as it is"},
                        409: {"description": "Refused: double dipping, or a period after the person's recorded "
                                              "death, under a scheme that rejects conflicts"}},
             summary="Record one benefit given (checked for double dipping)")
async def post_entry(body: EntryIn, request: Request, identity: Writer, response: Response, now: Now) -> EntryOut:
    """Record one benefit given: the scheme, the person (`person_id`, or an `identifier` that benefits
    resolves through the registry's lookup hashes; `household_id` for household schemes), the
    period, the amount or quantity, the delivery date and channel, and the department's own
    reference. It is checked against the scheme's rules, including double dipping across every
    record the registry linked or merged as the same person; a conflict is refused (409 with the
    evidence) or accepted and held for review, as the scheme's policy says (`X-Benefits-Flags`
    names the flags raised). The same `department_ref` again answers 200 with the entry as it is.

    **Who:** `benefits:post` (department_officer, or a client given it; with `benefits:write` at the gateway),
    and the caller must be on the poster list of the scheme's department.

    **Errors:** 403 you do not post for the scheme's department; 409 double dipping (or a period that
    starts after the person's recorded death) under a rule that
    refuses, or the `department_ref` was used for different content; 422 an unknown scheme or
    person, a period, amount, currency or date the scheme does not allow, a malformed identifier.
    """
    written: dict[uuid.UUID, Any] = {}
    # The hot path: a transaction of its own on raw asyncpg, no ORM session (see repository/posting.py).
    engine = request.app.state.runtime.engine
    async with transaction(engine) as conn:
        outcome = (await posting.post_on(conn, catalogue_cache.key_of(engine), identity, [body], now=now,
                                         mode="single", entries=written))[0]
        if outcome.status == "rejected":
            _raise_for(outcome)  # nothing was written; the lane it locked is let go
    assert outcome.entry_id is not None
    row = written[outcome.entry_id]
    response.status_code = 200 if outcome.status == "repeated" else 201
    if outcome.flags:
        response.headers["X-Benefits-Flags"] = ",".join(str(f) for f in outcome.flags)
    return entry_out(row)


def _raise_for(outcome: Outcome) -> None:
    errors = [e.model_dump() for e in outcome.errors]
    reasons = "; ".join(e["reason"] for e in errors)
    if outcome.code == "forbidden":
        raise Forbidden(reasons, errors=errors)
    if outcome.code in ("double_dipping", "conflict", "deceased"):
        raise Conflict(reasons, errors=errors, evidence=outcome.evidence)
    raise ValidationProblem(reasons, errors=errors)


@router.post("/entries/batch", response_model=BatchOut,
             summary="Record up to 5,000 benefits in one call; each item gets its own outcome")
async def post_batch(body: BatchIn, session: DbSession, identity: Writer, now: Now) -> BatchOut:
    """Up to 5,000 entries in one call, each judged as POST /entries would (including against the
    others in the batch). Nothing is refused as a whole: the answer counts accepted, held,
    rejected and repeated items and gives each item's outcome (its index, entry id, flags, errors).

    **Who:** `benefits:post` (department_officer, or a client given it; with `benefits:write` at the gateway),
    and the caller must be on the poster list of the scheme's department.

    **Errors:** 422 an empty batch, more than 5,000 entries, or an item that is not an entry at all
    (a refused item is an outcome, not an error).
    """
    outcomes = await posting.post(session, identity, body.entries, now=now, mode="batch")
    return batch_out(outcomes)


def batch_out(outcomes: list[Outcome]) -> BatchOut:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("accepted", "held", "rejected", "repeated")}
    return BatchOut(**counts, outcomes=outcomes)


@router.get("/entries", response_model=Page[EntryOut], summary="Ledger entries in your area, oldest first")
async def entries(session: DbSession, identity: Reader, scheme: OptSchemeQuery = None,
                  period: Annotated[str | None, Query(max_length=10, examples=["2026-11"], description=(
                      "Only this period: 2026-11 (monthly), 2026-Q4, 2026, once"))] = None,
                  person_id: Annotated[uuid.UUID | None, Query(description="Only this person's entries")] = None,
                  department: OptDepartmentQuery = None,
                  limit: Limit = 50, offset: Offset = 0) -> Page[EntryOut]:
    """Ledger entries (grants, reversals, recoveries) in your area scope, oldest first, by scheme,
    period, person or department; each with its hash in the scheme-period chain.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 422 a malformed filter.
    """
    rows, total = await LedgerRepository(session).entries(
        scopes=identity.area_scope, scheme_code=scheme, period=period,
        person_ids=[person_id] if person_id else None, department_code=department, limit=limit, offset=offset)
    return Page(items=[entry_out(r) for r in rows], total=total, limit=limit, offset=offset,
                next=next_link("/entries", limit=limit, offset=offset, total=total, scheme=scheme, period=period,
                               person_id=person_id, department=department))


@router.get("/entries/{entry_id}", response_model=EntryOut, summary="One ledger entry")
async def get_entry(entry_id: EntryId, session: DbSession, identity: Reader) -> EntryOut:
    """One ledger entry: who got what, when, under which rule version, recorded by whom, its
    department reference and evidence, and its chain hash.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 404 no such entry in your area scope.
    """
    return entry_out(await reversals.visible_entry(session, identity, entry_id))


@router.post("/entries/{entry_id}/reversal", response_model=EntryOut, status_code=201,
             summary="Take an entry back with a reversal entry (the original stays as it was)")
async def reverse(entry_id: EntryId, body: ReversalIn, session: DbSession, identity: Writer,
                  response: Response, now: Now) -> EntryOut:
    """Take a grant back (given in error, returned): a reversal entry with the opposite amount is
    appended; the original stays as it was, so the chain is never rewritten. The same
    `department_ref` again answers 200 with the reversal as it is.

    **Who:** `benefits:post` (department_officer, or a client given it; with `benefits:write` at the gateway),
    and the caller must be on the poster list of the scheme's department. Only the entry's own department
    reverses it.

    **Errors:** 403 another department's entry; 404 no such entry in your scope; 409 the entry is a
    reversal or recovery itself, or was already taken back, or the `department_ref` is taken.
    """
    row, created = await reversals.reverse(session, identity, entry_id, reason=body.reason,
                                           department_ref=body.department_ref, now=now)
    response.status_code = 201 if created else 200
    return entry_out(row)


@router.get("/ledger/verify", response_model=VerifyOut,
            summary="Recompute every hash chain (or those of one scheme) and say where any breaks")
async def verify(session: DbSession, identity: Admin,
                 partition: Annotated[str | None, Query(max_length=60, pattern=r"^[A-Z0-9_:.\-]+$",
                                                        description="Partition prefix, e.g. BD-OAA: or "
                                                                    "BD-OAA:2026-11 (every lane of the month) "
                                                                    "or BD-OAA:2026-11.0 (one lane)")] = None
                 ) -> VerifyOut:
    """Recompute every hash chain (or those whose partition starts with `partition`) in the database,
    check each link and each signed chain head, and say which partitions break and where. The
    daily job does the same.

    **Who:** `benefits:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `benefits:admin`; 422 a malformed partition prefix.
    """
    report = await chain.verify(session, partition)
    return VerifyOut(intact=report.intact, entries=report.entries, partitions_checked=len(report.partitions),
                     broken=[PartitionOut(**vars(p)) for p in report.partitions if not p.intact],
                     seconds=round(report.seconds, 3), public_key=chain.public_jwk())


@router.get("/ledger/public-key", summary="The Ed25519 key that verifies the chain heads' signatures (JWK)")
async def ledger_key() -> JSONResponse:
    """The Ed25519 public key (JWK) that verifies the signatures on the chain heads, so anyone holding
    an export can check the ledger was not rewritten. Cache it.

    **Who:** the gateway admits `benefits:read`; the service asks nothing more (the key is public).

    **Errors:** 401 / 403 only from the gateway (no credential, no `benefits:read`).
    """
    return JSONResponse({"keys": [chain.public_jwk()]}, headers={"Cache-Control": "public, max-age=300"})


@router.get("/registry-copy", response_model=RegistryCopyOut,
            summary="How current benefits' copy of the registry is (it is kept from the registry's events)")
async def registry_copy(session: DbSession, identity: Reader, now: Now) -> RegistryCopyOut:
    """How current benefits' copy of the registry is: when its last registry event arrived, the lag in
    seconds, how many events it applied, and how many persons, households and active links it holds. Coverage answers
    carry the same `registry_as_of`.

    **Who:** `benefits:read` (field workers, reviewers, officers, help desks, auditors).

    **Errors:** 403 without `benefits:read`.
    """
    state = await ReplicaRepository(session).state()
    last = state["last_event_at"]
    lag = (now - last).total_seconds() if last else None
    return RegistryCopyOut(**state, lag_seconds=lag)

