"""Webhooks Twilio calls (not through the gateway): every request must carry a valid X-Twilio-Signature."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from fastapi import APIRouter, Request, Response

from kernel.db import DbSession
from kernel.errors import Forbidden, ValidationProblem
from services.notify.metrics import CALLBACKS
from services.notify.routes.common import Now
from services.notify.service import callbacks as service
from services.notify.settings import get_notify_settings

router = APIRouter(prefix="/callbacks/twilio", tags=["provider callbacks"], include_in_schema=False)
TWIML = "application/xml"


async def signed_params(request: Request) -> dict[str, str]:
    """The form, once its signature over our public URL checks (403 otherwise, whatever the body says)."""
    params = {k: str(v) for k, v in (await request.form()).items()}
    url = get_notify_settings().public_callback_base.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    provider = request.app.state.provider
    if not provider.callback_is_genuine(url, params, request.headers.get("X-Twilio-Signature", "")):
        CALLBACKS.labels("any", "forged").inc()
        raise Forbidden("The request is not signed by the provider.")
    return params


def message_id_of(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.query_params.get("m", ""))
    except ValueError as exc:
        raise ValidationProblem("m must be a message id", errors=[{"field": "query.m", "reason": "uuid"}]) from exc


def _twiml(body: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>', media_type=TWIML)


@router.post("/status")
async def status_callback(request: Request, session: DbSession, now: Now) -> Response:
    params: Mapping[str, str] = await signed_params(request)
    await service.apply_status(session, message_id_of(request), params, now)
    return Response(status_code=204)


@router.post("/gather")
async def gather(request: Request, session: DbSession, now: Now) -> Response:
    params = await signed_params(request)
    outcome = await service.keypress(session, message_id_of(request), params.get("Digits", ""), now)
    said = {"opted_out": "<Say>You will receive no more messages.</Say>", "answered": "<Say>Thank you.</Say>"}
    return _twiml(said.get(outcome, "<Hangup/>"))


@router.post("/voice/inbound")
async def inbound_call(request: Request, session: DbSession, now: Now) -> Response:
    params = await signed_params(request)
    if params.get("From"):
        await service.missed_call(session, params["From"], now)
    return _twiml('<Reject reason="busy"/>')
