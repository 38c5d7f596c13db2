"""The BPP's HTTP face: ``POST /beckn/{action}`` answering ACK or NACK at once, the callback later.

These routes authenticate by the Beckn signature (``Authorization: Signature keyId=...``), not by
the gateway's identity context: a BAP is a network subscriber, known by the key its registry entry
lists (beckn/registry.py).  The gateway asks such callers for no key and forwards that header on
these exact paths (``kernel.paths.SIGNED_PATHS``), so the same request works directly and behind it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import DbSession
from kernel.errors import PROBLEM_CONTENT_TYPE, PROBLEM_RESPONSES
from services.marketplace.beckn import signing
from services.marketplace.beckn.handlers import HANDLERS, Nack
from services.marketplace.beckn.registry import RegistryUnavailable, registry_for
from services.marketplace.metrics import BECKN_REQUESTS
from services.marketplace.repository.beckn import BecknRepository
from services.marketplace.routes.common import Limit, Now, Offset, Reader, Writer
from services.marketplace.rules import access
from services.marketplace.rules.beckn import (
    ACTIONS,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    INVALID_SIGNATURE,
    BecknError,
    Expect,
    check_context,
)
from services.marketplace.schemas.beckn import Ack, SubscriberIn, SubscriberOut
from services.marketplace.schemas.common import Page
from services.marketplace.service.common import after_commit
from services.marketplace.settings import get_marketplace_settings

router = APIRouter(prefix="/beckn", tags=["beckn"])
MAX_BODY = 256 * 1024
# A NACK is Beckn JSON; the gateway in front may also answer a 401 of its own as problem+json.
_ACK_DOC = {"model": Ack, "description": "NACK with error{code, paths, message}",
            "content": {PROBLEM_CONTENT_TYPE: PROBLEM_RESPONSES[401]["content"][PROBLEM_CONTENT_TYPE]}}


def _answer(action: str, error: BecknError | None = None, status_code: int = 200,
            headers: dict[str, str] | None = None, *, session: AsyncSession | None = None) -> JSONResponse:
    counter = BECKN_REQUESTS.labels(action if action in ACTIONS else "other", "NACK" if error else "ACK")
    if session is not None:
        after_commit(session, counter.inc)  # an ACK counts once what it commits to is stored
    else:
        counter.inc()
    body: dict[str, Any] = {"message": {"ack": {"status": "NACK" if error else "ACK"}}}
    if error is not None:
        body["error"] = error.body()
    return JSONResponse(body, status_code=status_code, headers=headers)


def _expect() -> Expect:
    s = get_marketplace_settings()
    return Expect(domain=s.beckn_domain, version=s.beckn_version, country=s.beckn_country, bpp_id=s.bpp_id,
                  bpp_uri=s.bpp_uri, max_skew=timedelta(seconds=s.beckn_max_clock_skew_seconds))


@router.post("/{action}", response_model=Ack, responses={400: _ACK_DOC, 401: _ACK_DOC, 404: _ACK_DOC},
             summary="Beckn BPP endpoint (search, select, init, confirm, status, track, cancel, update, rating, "
                     "support)")
async def beckn_action(action: Annotated[str, Path(pattern=r"^[a-z_]{1,20}$", examples=["search"], description=(
                           "search, select, init, confirm, status, track, cancel, update, rating or support"))],
                       request: Request,
                       session: DbSession, now: Now) -> JSONResponse:
    """This BPP's Beckn (ONDC services) endpoint. The body is a Beckn request (`context` with domain,
    version, action, bap_id and bap_uri, transaction and message ids, timestamp; and `message`); the
    answer is an immediate ACK, and the result (on_search with the rate card's jobs and prices,
    on_confirm with the booking, on_status, ...) is POSTed later to the BAP's `bap_uri`. A repeated
    message id is answered ACK and not run twice. See docs/marketplace.md.

    **Who:** a Beckn network subscriber (BAP) that signs the request with the key its registry entry
    lists (`Authorization: Signature keyId="{bap_id}|{unique_key_id}|ed25519",...`); the gateway asks
    it for no API key on these paths and forwards the Signature.

    **Errors** (a NACK with `error {code, paths, message}`): 400 a malformed body or context (wrong
    domain, version, BPP, stale timestamp), or the action's own refusal; 401 a missing or invalid
    signature, or one by another subscriber than `bap_id`; 404 an unknown action; 503 the registry
    cannot be reached to check the key (retry).
    """
    if action not in ACTIONS:
        return _answer(action, BecknError(INVALID_REQUEST, "context.action", f"unknown action {action}"), 404)
    body = await request.body()
    settings = get_marketplace_settings()
    try:
        signed = await signing.verify(request.headers.get("authorization"), body[:MAX_BODY + 1],
                                      subscriber_keys(session, now), now=now.timestamp(),
                                      max_skew=settings.beckn_max_clock_skew_seconds)
    except RegistryUnavailable as exc:
        return _answer(action, BecknError(INTERNAL_ERROR, "Authorization", f"cannot verify the signature now: {exc}"),
                       503, headers={"Retry-After": "5"})
    except signing.SignatureError as exc:
        realm = get_marketplace_settings().bpp_id
        return _answer(action, BecknError(INVALID_SIGNATURE, "Authorization", str(exc)), 401, headers={
            "WWW-Authenticate": f'Signature realm="{realm}",headers="{signing.SIGNED_HEADERS}"'})
    if len(body) > MAX_BODY:
        return _answer(action, BecknError(INVALID_REQUEST, "", "the request body is too large"), 400)
    try:
        payload = json.loads(body)
    except ValueError:
        return _answer(action, BecknError(INVALID_REQUEST, "", "the body is not JSON"), 400)
    context = payload.get("context") if isinstance(payload, dict) else None
    errors = check_context(context, action, _expect(), now)
    if not errors and signed.subscriber_id != context["bap_id"]:  # type: ignore[index]
        errors = [BecknError(INVALID_SIGNATURE, "context.bap_id", "the request is signed by another subscriber")]
    if errors:
        return _answer(action, errors[0], 401 if errors[0].code == INVALID_SIGNATURE else 400)
    assert isinstance(context, dict) and isinstance(payload, dict)
    message = payload.get("message")
    if not isinstance(message, dict):
        return _answer(action, BecknError(INVALID_REQUEST, "message", "message must be an object"), 400)
    repo = BecknRepository(session)
    if await repo.first_sight(context["bap_id"], context["message_id"], action, context["transaction_id"]):
        try:
            await HANDLERS[action](session, context, message, now)
        except Nack as nack:
            return _answer(action, nack.error, 400)
    return _answer(action, session=session)


def subscriber_keys(session: AsyncSession, now: datetime) -> signing.KeyLookup:
    """Where a signer's key comes from: the network registry if one is configured, else the table."""
    settings = get_marketplace_settings()
    registry = registry_for(settings) if settings.beckn_registry_url else None

    async def lookup(subscriber_id: str, unique_key_id: str) -> str | None:
        if registry is None:
            return await BecknRepository(session).signing_key(subscriber_id, unique_key_id, now)
        return await registry.key(subscriber_id, unique_key_id, now)

    return lookup


@router.get("/subscriber", response_model=SubscriberOut,
            summary="This BPP's subscriber entry (public key) to register with the network registry")
async def own_entry(identity: Reader) -> SubscriberOut:
    """This BPP's own subscriber entry (id, unique key id, URL and Ed25519 public key) as the network
    registry needs it, to register the marketplace with a Beckn network.

    **Who:** `marketplace:read`.

    **Errors:** 401 / 403 only from the gateway.
    """
    s = get_marketplace_settings()
    key = signing.public_key_b64(signing.private_key(s.bpp_signing_seed))
    return SubscriberOut(subscriber_id=s.bpp_id, unique_key_id=s.bpp_unique_key_id, type="BPP",
                         subscriber_url=s.bpp_uri, signing_public_key=key, status="SUBSCRIBED", valid_until=None)


@router.put("/subscribers", response_model=SubscriberOut,
            summary="Add or update a network subscriber's key (from the registry's lookup)")
async def put_subscriber(body: SubscriberIn, session: DbSession, identity: Writer) -> SubscriberOut:
    """Add or update a network subscriber's signing key (from the registry's lookup), so its signed
    requests are accepted when no network registry is configured.

    **Who:** `marketplace:admin`: the admin role, or a client given that scope together with
    `marketplace:write`, which the gateway asks of a write.

    **Errors:** 403 without `marketplace:admin`; 422 a key that is not base64 of 32 bytes, a malformed
    subscriber id or URL.
    """
    access.require(identity, access.ADMIN)
    return SubscriberOut.model_validate(dict(await BecknRepository(session).upsert_subscriber(body.model_dump())))


@router.get("/subscribers", response_model=Page[SubscriberOut], summary="Known network subscribers")
async def list_subscribers(session: DbSession, identity: Reader, limit: Limit = 100,
                           offset: Offset = 0) -> Page[SubscriberOut]:
    """Known network subscribers with their keys, status and validity.

    **Who:** `marketplace:read`.

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await BecknRepository(session).subscribers(limit=limit, offset=offset)
    return Page(items=[SubscriberOut.model_validate(dict(r)) for r in rows], total=total, limit=limit, offset=offset)


