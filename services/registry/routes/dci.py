"""DCI social registry API routes (SPDCI v1.0.0), served at the standard paths.

The gateway forwards ``/registry/search``, ``/registry/sync/...``, ``/registry/subscribe``,
``/registry/unsubscribe`` and ``/registry/txn/...`` unchanged, so these paths are exactly the
spec's.  Errors are the spec's acknowledgement with ``ack_status: ERR`` and an error code,
sent as ``application/json`` with an HTTP 4xx (DCI clients parse JSON only); the rest of the
API answers RFC 9457 problems.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity, require_scope
from kernel.db import DbSession
from kernel.errors import NotFound, Problem, ValidationProblem
from services.registry.repository.dci import DciRepository
from services.registry.schemas import dci_openapi as doc
from services.registry.schemas.dci import SenderIn, SenderOut
from services.registry.schemas.dci_openapi import request_body
from services.registry.service import dci, dci_delivery, dci_signing
from services.registry.settings_dci import get_dci_settings

router = APIRouter(tags=["dci"])
Admin = Annotated[Identity, require_scope("registry:admin")]
SenderId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")]

def _with_query(example: dict[str, Any], query_type: str, query: Any) -> dict[str, Any]:
    out = copy.deepcopy(example)
    criteria = out["message"]["search_request"][0]["search_criteria"]
    criteria["query_type"], criteria["query"] = query_type, query
    return out


def _error_response(error: dci.DciError) -> JSONResponse:
    """The DCI error acknowledgement as DCI clients parse it: ``application/json``, ``ack_status: ERR``."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(dci.ack("ERR", str(uuid.uuid4()), error), status_code=error.status, headers=headers)


DCI_PATHS = frozenset({"/registry/search", "/registry/sync/search", "/registry/subscribe", "/registry/unsubscribe",
                       "/registry/txn/status", "/registry/sync/txn/status"})


def dci_problem_renderer(problem: Problem, scope: Any) -> JSONResponse | None:
    """The request guards' refusals (body too large or too deep, NUL) on a DCI path, as the DCI ack."""
    if scope.get("path") not in DCI_PATHS:
        return None
    status = 413 if problem.status == 413 else 400  # DCI's bad-request ack (a NUL is not a 422 here)
    return _error_response(dci.DciError("err.request.bad", problem.detail, status))


async def _answer(handler: Callable[[Request, AsyncSession], Awaitable[dict[str, Any]]], request: Request,
                  session: AsyncSession) -> JSONResponse:
    try:
        return JSONResponse(await handler(request, session))
    except dci.DciError as error:
        return _error_response(error)


_SEARCH = request_body(doc.SearchEnvelope, {
    "idtype-value": doc.SEARCH_EXAMPLE,
    "expression": _with_query(doc.SEARCH_EXAMPLE, "expression", doc.EXPRESSION_QUERY),
    "predicate": _with_query(doc.SEARCH_EXAMPLE, "predicate", doc.PREDICATE_QUERY),
})
_TXN_STATUS = request_body(doc.TxnStatusEnvelope, {"by_transaction": doc.TXN_STATUS_EXAMPLE})
_ACKED = {200: {"model": doc.DciAck, "description": "ACK; the result is POSTed to the sender's callback"},
          **doc.ERRORS}


@router.post("/registry/sync/search", summary="DCI sync search (idtype-value, expression, predicate)",
             description="Search the registry by identifier, Mongo-style expression or predicate list; the signed "
                         "on-search envelope comes back in the response. See docs/dci.md.",
             responses={200: {"model": doc.SyncSearchReply, "description": "Signed on-search envelope",
                              "content": {"application/json": {"example": doc.SEARCH_REPLY_EXAMPLE}}}, **doc.ERRORS},
             openapi_extra=_SEARCH)
async def sync_search(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.sync_search, request, session)


@router.post("/registry/search", summary="DCI async search: ACK now, results POSTed to on-search",
             description="Acknowledged at once; the registry POSTs the signed on-search envelope to "
                         "`{sender_uri}/on-search` (allow-listed at onboarding). A resent message_id is not run twice.",
             responses=_ACKED, openapi_extra=_SEARCH)
async def async_search(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.async_search, request, session)


@router.post("/registry/subscribe", summary="DCI subscribe to registry events (pushed to /registry/notify)",
             description="Subscribe to REGISTER events matching a filter; on-subscribe carries the subscription "
                         "codes, each matching event is POSTed once to `{callback}/notify`.",
             responses=_ACKED, openapi_extra=request_body(doc.SubscribeEnvelope, {"register": doc.SUBSCRIBE_EXAMPLE}))
async def subscribe(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.subscribe, request, session)


@router.post("/registry/unsubscribe", summary="DCI unsubscribe by subscription codes",
             description="Ends subscriptions; the result is POSTed to `{callback}/on-unsubscribe`.",
             responses=_ACKED,
             openapi_extra=request_body(doc.UnsubscribeEnvelope, {"codes": doc.UNSUBSCRIBE_EXAMPLE}))
async def unsubscribe(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.unsubscribe, request, session)


@router.post("/registry/txn/status", summary="DCI async transaction status (reply to txn/on-status)",
             description="Status of an earlier search or subscribe, POSTed to `{callback}/txn/on-status`.",
             responses=_ACKED, openapi_extra=_TXN_STATUS)
async def async_txn_status(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.async_txn_status, request, session)


@router.post("/registry/sync/txn/status", summary="DCI sync transaction status",
             description="Status of an earlier search or subscribe, in the response (signed txn-on-status).",
             responses={200: {"model": doc.SyncTxnStatusReply, "description": "Signed txn-on-status envelope"},
                        **doc.ERRORS},
             openapi_extra=_TXN_STATUS)
async def sync_txn_status(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.sync_txn_status, request, session)


@router.get("/dci/jwks.json", summary="Public keys that verify the registry's DCI callback signatures")
async def jwks() -> dict[str, Any]:
    settings = get_dci_settings()
    key = dci_signing.private_key_from_seed(settings.signing_key)
    return {"keys": [dci_signing.public_jwk(key, settings.key_id)]}


def _check_callbacks(body: SenderIn) -> None:
    for i, entry in enumerate(body.callback_allowlist):
        try:
            dci_delivery.check_url_shape(entry)
        except dci_delivery.CallbackRefused as exc:
            field = f"callback_allowlist.{i}"
            raise ValidationProblem(str(exc), errors=[{"field": field, "reason": str(exc)}]) from exc
    if body.default_callback_uri:
        try:
            dci_delivery.resolve_callback(body.default_callback_uri, body.model_dump())
        except dci_delivery.CallbackRefused as exc:
            raise ValidationProblem(str(exc), errors=[{"field": "default_callback_uri", "reason": str(exc)}]) from exc


def _check_signing(body: SenderIn, request: Request) -> None:
    if body.require_signature and not body.public_keys:
        raise ValidationProblem("A sender whose envelopes are verified needs at least one public key",
                                errors=[{"field": "public_keys", "reason": "required when require_signature is true"}])
    if not body.require_signature and not get_dci_settings().unsigned_allowed(dci._environment(request)):
        reason = "unsigned senders are refused here unless GRAMSETU_REGISTRY_DCI_ALLOW_UNSIGNED_SENDERS=true"
        raise ValidationProblem(f"require_signature=false: {reason}",
                                errors=[{"field": "require_signature", "reason": reason}])


@router.put("/dci/senders/{sender_id}", response_model=SenderOut,
            summary="Onboard or update a DCI sender: its OAuth2 client, callback allow-list and public keys")
async def put_sender(sender_id: SenderId, body: SenderIn, request: Request, session: DbSession,
                     identity: Admin) -> SenderOut:
    _check_callbacks(body)
    _check_signing(body, request)
    row = await DciRepository(session).upsert_sender(
        {"sender_id": sender_id, **body.model_dump(), "created_by": identity.subject}
    )
    return SenderOut.model_validate(dict(row))


@router.get("/dci/senders/{sender_id}", response_model=SenderOut, summary="A DCI sender's onboarding record")
async def get_sender(sender_id: SenderId, session: DbSession, identity: Admin) -> SenderOut:
    row = await DciRepository(session).sender(sender_id)
    if row is None:
        raise NotFound("No such DCI sender.")
    return SenderOut.model_validate(dict(row))
