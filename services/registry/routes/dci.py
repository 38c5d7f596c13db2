"""DCI social registry API routes (SPDCI v1.0.0), served at the standard paths.

The gateway forwards ``/registry/search``, ``/registry/sync/...``, ``/registry/subscribe``,
``/registry/unsubscribe`` and ``/registry/txn/...`` unchanged, so these paths are exactly the
spec's.  Errors are the spec's acknowledgement with ``ack_status: ERR`` and an error code,
sent as an RFC 9457 problem (HTTP 4xx) that also carries the ``message`` ack member.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity, require_scope
from kernel.db import DbSession
from kernel.errors import PROBLEM_BASE, PROBLEM_CONTENT_TYPE, NotFound, ValidationProblem
from services.registry.repository.dci import DciRepository
from services.registry.schemas.dci import SenderIn, SenderOut
from services.registry.service import dci, dci_delivery, dci_signing
from services.registry.settings_dci import get_dci_settings

router = APIRouter(tags=["dci"])
Admin = Annotated[Identity, require_scope("registry:admin")]
SenderId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")]

_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 413: "Payload too large"}
_ACK = {"description": "Acknowledgement (ACK) or, with HTTP 4xx, ERR with the error code"}
_OPENAPI = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["header", "message"],
    "properties": {"signature": {"type": "string"}, "header": {"type": "object"}, "message": {"type": "object"}},
}}}}}


def _error_response(error: dci.DciError) -> JSONResponse:
    title = _TITLES.get(error.status, "Bad request")
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + "dci-" + error.code.replace(".", "-").replace("_", "-"),
        "title": title,
        "status": error.status,
        "detail": error.message,
        "errors": [{"code": error.code, "message": error.message}],
        **dci.ack("ERR", str(uuid.uuid4()), error),
    }
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(body, status_code=error.status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


async def _answer(handler: Callable[[Request, AsyncSession], Awaitable[dict[str, Any]]], request: Request,
                  session: AsyncSession) -> JSONResponse:
    try:
        return JSONResponse(await handler(request, session))
    except dci.DciError as error:
        return _error_response(error)


@router.post("/registry/sync/search", summary="DCI sync search (idtype-value, expression, predicate)",
             responses={200: {"description": "Signed on-search envelope"}}, openapi_extra=_OPENAPI)
async def sync_search(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.sync_search, request, session)


@router.post("/registry/search", summary="DCI async search: ACK now, results POSTed to on-search",
             responses={200: _ACK}, openapi_extra=_OPENAPI)
async def async_search(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.async_search, request, session)


@router.post("/registry/subscribe", summary="DCI subscribe to registry events (pushed to /registry/notify)",
             responses={200: _ACK}, openapi_extra=_OPENAPI)
async def subscribe(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.subscribe, request, session)


@router.post("/registry/unsubscribe", summary="DCI unsubscribe by subscription codes",
             responses={200: _ACK}, openapi_extra=_OPENAPI)
async def unsubscribe(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.unsubscribe, request, session)


@router.post("/registry/txn/status", summary="DCI async transaction status (reply to txn/on-status)",
             responses={200: _ACK}, openapi_extra=_OPENAPI)
async def async_txn_status(request: Request, session: DbSession) -> JSONResponse:
    return await _answer(dci.async_txn_status, request, session)


@router.post("/registry/sync/txn/status", summary="DCI sync transaction status",
             responses={200: {"description": "Signed txn-on-status envelope"}}, openapi_extra=_OPENAPI)
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


@router.put("/dci/senders/{sender_id}", response_model=SenderOut,
            summary="Onboard or update a DCI sender: its OAuth2 client, callback allow-list and public keys")
async def put_sender(sender_id: SenderId, body: SenderIn, session: DbSession, identity: Admin) -> SenderOut:
    _check_callbacks(body)
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
