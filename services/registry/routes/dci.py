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
SenderId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$",
                               description="The department system's DCI `sender_id` (its messages' header.sender_id)",
                               examples=["dept-social-welfare"])]

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
# Who may call the DCI endpoints and how they refuse, said once for each operation's description.
_DCI_WHO = ("\n\n**Who:** an onboarded sender's gateway client with the `registry:dci` scope (or `registry:read`), "
            "whose `header.sender_id` is onboarded for that client (PUT /registry/dci/senders/{sender_id}); "
            "envelopes signed with the sender's Ed25519 key unless it was onboarded with "
            "`require_signature: false`. See docs/dci.md.")
_DCI_ERRORS = ("\n\n**Errors** (a DCI error ack, `ack_status: ERR`, as `application/json`): 400 "
               "`err.request.bad` (envelope, header or message malformed, wrong `header.action`), "
               "`err.version.not_supported`, `err.receiver_id.invalid`; 401 no token, or "
               "`err.signature.missing` / `err.signature.invalid`; 403 the scope, or `err.sender_id.invalid`; "
               "413 the message is too large; 415 the body is not sent as `Content-Type: application/json`.")
_ACKED = {200: {"model": doc.DciAck, "description": "ACK; the result is POSTed to the sender's callback"},
          **doc.ERRORS}


@router.post("/registry/sync/search", summary="DCI sync search (idtype-value, expression, predicate)",
             description="Search the registry by identifier (`idtype-value`), Mongo-style `expression` or "
                         "`predicate` list; the signed on-search envelope comes back in the response, one "
                         "`search_response` per request of the batch (a bad request is rejected, `rjct`, with its "
                         "own reason code while the others are answered)." + _DCI_WHO + _DCI_ERRORS,
             responses={200: {"model": doc.SyncSearchReply, "description": "Signed on-search envelope",
                              "content": {"application/json": {"example": doc.SEARCH_REPLY_EXAMPLE}}}, **doc.ERRORS},
             openapi_extra=_SEARCH)
async def sync_search(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.sync_search, request, session)


@router.post("/registry/search", summary="DCI async search: ACK now, results POSTed to on-search",
             description="Acknowledged at once; the registry POSTs the signed on-search envelope to "
                         "`{sender_uri}/on-search` (allow-listed at onboarding). A resent message_id is not run "
                         "twice; `txn/status` tells how it went." + _DCI_WHO + _DCI_ERRORS
                         + " `err.sender_uri.invalid`: the callback is not on the sender's allow-list.",
             responses=_ACKED, openapi_extra=_SEARCH)
async def async_search(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.async_search, request, session)


@router.post("/registry/subscribe", summary="DCI subscribe to registry events (pushed to /registry/notify)",
             description="Subscribe to REGISTER events matching a filter; on-subscribe carries the subscription "
                         "codes, each matching event is POSTed once to `{callback}/notify`." + _DCI_WHO
                         + _DCI_ERRORS,
             responses=_ACKED, openapi_extra=request_body(doc.SubscribeEnvelope, {"register": doc.SUBSCRIBE_EXAMPLE}))
async def subscribe(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.subscribe, request, session)


@router.post("/registry/unsubscribe", summary="DCI unsubscribe by subscription codes",
             description="Ends the subscriptions named by their `subscription_codes` (from on-subscribe); the "
                         "result, per code, is POSTed to `{callback}/on-unsubscribe`; a code that is not one of the "
                         "sender's is rejected (`rjct.subscription_code.invalid`)." + _DCI_WHO + _DCI_ERRORS,
             responses=_ACKED,
             openapi_extra=request_body(doc.UnsubscribeEnvelope, {"codes": doc.UNSUBSCRIBE_EXAMPLE}))
async def unsubscribe(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.unsubscribe, request, session)


@router.post("/registry/txn/status", summary="DCI async transaction status (reply to txn/on-status)",
             description="Status of an earlier search or subscribe (by `transaction_id`, reference ids or "
                         "correlation id), POSTed to `{callback}/txn/on-status`; the sync variant answers in the "
                         "response." + _DCI_WHO + _DCI_ERRORS,
             responses=_ACKED, openapi_extra=_TXN_STATUS)
async def async_txn_status(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.async_txn_status, request, session)


@router.post("/registry/sync/txn/status", summary="DCI sync transaction status",
             description="Status of an earlier search or subscribe (by `transaction_id`, reference ids or "
                         "correlation id), in the response (a signed txn-on-status envelope); only the sender's "
                         "own transactions are visible." + _DCI_WHO + _DCI_ERRORS,
             responses={200: {"model": doc.SyncTxnStatusReply, "description": "Signed txn-on-status envelope"},
                        **doc.ERRORS},
             openapi_extra=_TXN_STATUS)
async def sync_txn_status(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.sync_txn_status, request, session)


@router.get("/dci/jwks.json", summary="Public keys that verify the registry's DCI callback signatures")
async def jwks() -> dict[str, Any]:
    """The registry's public Ed25519 key(s) as a JSON Web Key Set: a department system verifies the
    signature of each on-search, on-subscribe, notify and txn-on-status the registry sends it with
    the key whose `kid` the signature names (`kidId="gramsetu-registry|k1|ed25519"`). Cache it.

    **Who:** the gateway admits `registry:read` or `registry:dci`; the registry itself asks nothing
    (the keys are public).

    **Errors:** 401 / 403 only from the gateway (no credential, neither scope).
    """
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
    """Onboard a department system as a DCI sender (or replace its record): the gateway OAuth2 client
    it calls with (`client_id`, from `gramsetu clients create ... --scopes registry:dci`), the URL
    prefixes its callbacks may go to, its default callback, and the Ed25519 public keys its envelopes
    are signed with. `require_signature: false` accepts unsigned envelopes (each transaction records
    it); outside development that needs `GRAMSETU_REGISTRY_DCI_ALLOW_UNSIGNED_SENDERS=true`.

    **Who:** `registry:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `registry:admin`; 422 a callback that is not https (plain http only to
    loopback outside production) or not on the allow-list, a key that is not an Ed25519 JWK with a
    `kid`, no key while `require_signature` is true, or an unsigned sender where that is refused.
    """
    _check_callbacks(body)
    _check_signing(body, request)
    row = await DciRepository(session).upsert_sender(
        {"sender_id": sender_id, **body.model_dump(), "created_by": identity.subject}
    )
    return SenderOut.model_validate(dict(row))


@router.get("/dci/senders/{sender_id}", response_model=SenderOut, summary="A DCI sender's onboarding record")
async def get_sender(sender_id: SenderId, session: DbSession, identity: Admin) -> SenderOut:
    """The sender's onboarding record as stored: its client, callback allow-list and default callback,
    public keys, whether signatures are required, and when it was created and last changed.

    **Who:** `registry:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `registry:admin`; 404 no such sender.
    """
    row = await DciRepository(session).sender(sender_id)
    if row is None:
        raise NotFound("No such DCI sender.")
    return SenderOut.model_validate(dict(row))
