"""The DCI social registry API (SPDCI v1.0.0): receive envelopes, answer sync calls, queue async replies.

Every request is checked before anything is done: the caller's identity and scope (a gateway
OAuth2 bearer token becomes the signed identity context), the envelope and header, that
``sender_id`` is onboarded and bound to the caller's OAuth2 client, and the Ed25519 signature.
A failure is an ``ERR`` acknowledgement with the spec's error code (and an HTTP 4xx).  Async
calls are stored with their work scheduled on the durable scheduler, then acknowledged; the
reply is POSTed to the allow-listed callback by the ``dci.reply`` job.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity, identity_from_request
from kernel.errors import Problem
from kernel.scheduler import schedule
from kernel.settings import get_settings
from kernel.validation import is_json
from services.registry import SERVICE
from services.registry.repository.dci import DciRepository
from services.registry.schemas.dci import (
    MsgHeader,
    SearchRequest,
    SubscribeCriteria,
    SubscribeRequest,
    TxnStatusRequest,
    UnsubscribeRequest,
)
from services.registry.service import dci_delivery, dci_signing
from services.registry.service.dci_query import QueryError, condition_for
from services.registry.service.dci_records import REG_TYPE, now_iso, search_item
from services.registry.service.identifiers import encrypt
from services.registry.settings_dci import get_dci_settings

READ_SCOPE = "registry:read"
DCI_SCOPE = "registry:dci"  # what a DCI sender's client is given (docs/roles.md, docs/dci.md)
REPLY_JOB = "dci.reply"
NOTIFY_JOB = "dci.notify"
EVENT_TYPES = {"REGISTER": "registry.person.registered.v1"}  # DCI reg_event_type -> our event subject
REPLY_ACTIONS = {"search": "on-search", "subscribe": "on-subscribe", "unsubscribe": "on-unsubscribe",
                 "txn-status": "txn-on-status"}


class DciError(Exception):
    """An ``ERR`` acknowledgement: ``code`` from the spec's Error enum, and the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message[:999]
        self.status = status


@dataclass
class Inbound:
    identity: Identity
    header: MsgHeader
    raw_header: dict[str, Any]
    message: dict[str, Any]
    sender: RowMapping
    unsigned: bool = False  # the sender is onboarded with require_signature=false


def ack(status: str, correlation_id: str, error: DciError | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"ack_status": status, "timestamp": now_iso(), "correlation_id": correlation_id}
    if error is not None:
        message["error"] = {"code": error.code, "message": error.message}
    return {"message": message}


def _first_error(exc: ValidationError, prefix: str) -> str:
    first = exc.errors()[0]
    return f"{prefix}.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _identity(request: Request) -> Identity:
    try:
        identity = identity_from_request(request)
    except Problem as exc:
        raise DciError("err.request.unauthorized", exc.detail, 401) from exc
    if identity is None:
        raise DciError("err.request.unauthorized", "Send an OAuth2 bearer token through the gateway", 401)
    if not (identity.has_scope(DCI_SCOPE) or identity.has_scope(READ_SCOPE)):
        raise DciError("err.request.forbidden", f"This call needs the {DCI_SCOPE!r} scope", 403)
    return identity


async def _envelope(request: Request) -> dict[str, Any]:
    # JSON only: the request guards (NUL, nesting depth) run on JSON bodies, and the spec's request
    # bodies are application/json; a body sent as text/plain or untyped would skip those guards.
    if not is_json(request.headers.get("content-type")):
        raise DciError("err.request.bad", "Send the message with Content-Type: application/json", 415)
    body = await request.body()
    if len(body) > get_dci_settings().max_body_bytes:
        raise DciError("err.request.bad", "The message is too large", 413)
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DciError("err.request.bad", "The body is not JSON") from exc
    except RecursionError as exc:  # thousands of nested brackets
        raise DciError("err.request.bad", "The body nests too deeply") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("header"), dict):
        raise DciError("err.request.bad", "The body must be an object with header and message")
    return envelope


def _header(raw: dict[str, Any], action: str) -> MsgHeader:
    try:
        header = MsgHeader.model_validate(raw)
    except ValidationError as exc:
        raise DciError("err.request.bad", _first_error(exc, "header")) from exc
    if header.version != "1.0.0":
        raise DciError("err.version.not_supported", "Only version 1.0.0 is supported")
    if header.action != action:
        raise DciError("err.request.bad", f"header.action must be {action!r} on this endpoint")
    settings = get_dci_settings()
    if header.receiver_id is not None and header.receiver_id != settings.registry_id:
        raise DciError("err.receiver_id.invalid", f"receiver_id must be {settings.registry_id!r}")
    if header.is_msg_encrypted:
        raise DciError("err.encryption.invalid", "Encrypted messages are not supported; send them in clear over TLS")
    return header


async def receive(request: Request, session: AsyncSession, action: str) -> Inbound:
    identity = _identity(request)
    envelope = await _envelope(request)
    header = _header(envelope["header"], action)
    message = envelope.get("message")
    if not isinstance(message, dict):
        raise DciError("err.request.bad", "message must be an object")
    sender = await DciRepository(session).sender(header.sender_id)
    if sender is None or identity.client_id != sender["client_id"]:
        # One answer for "unknown" and "not yours", so sender ids cannot be probed.
        raise DciError("err.sender_id.invalid", "sender_id is not onboarded for this client", 403)
    settings = get_dci_settings()
    if not sender["require_signature"]:
        if not settings.unsigned_allowed(_environment(request)):
            raise DciError("err.signature.missing", "This registry does not serve unsigned senders; "
                           "onboard the sender with its public keys", 401)
        return Inbound(identity, header, envelope["header"], message, sender, unsigned=True)
    signature = envelope.get("signature") or request.headers.get("Signature")
    try:
        dci_signing.verify(signature, envelope["header"], message, list(sender["public_keys"]),
                           sender_id=header.sender_id, max_skew=settings.signature_max_skew_seconds)
    except dci_signing.SignatureError as exc:
        raise DciError(exc.code, exc.message, 401) from exc
    return Inbound(identity, header, envelope["header"], message, sender)


def _environment(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return str(getattr(settings, "environment", None) or get_settings().environment)


def _parse(model: type[BaseModel], message: dict[str, Any]) -> Any:
    try:
        if model is UnsubscribeRequest:
            return UnsubscribeRequest.parse(message)
        return model.model_validate(message)
    except ValidationError as exc:
        raise DciError("err.request.bad", _first_error(exc, "message")) from exc


def _check_batch(inbound: Inbound, size: int) -> None:
    limit = get_dci_settings().max_batch
    if size > limit:
        raise DciError("err.request.bad", f"At most {limit} requests per message")
    if inbound.header.total_count != size:
        raise DciError("err.request.bad", f"header.total_count must be the number of requests ({size})")


def _identity_snapshot(identity: Identity) -> dict[str, Any]:
    return identity.model_dump(exclude={"expires_at"})


async def _record(session: AsyncSession, inbound: Inbound, *, action: str, mode: str, status: str,
                  transaction_id: str, results: list[dict[str, Any]], callback: str | None = None,
                  request: dict[str, Any] | None = None) -> tuple[str, bool]:
    """Store the transaction; (correlation_id, is_new).  A resent message_id returns the first one's id."""
    repo = DciRepository(session)
    row = await repo.add_transaction({
        "correlation_id": str(uuid.uuid4()), "sender_id": inbound.header.sender_id,
        "message_id": inbound.header.message_id, "transaction_id": transaction_id, "action": action,
        "mode": mode, "status": status, "callback_uri": callback, "identity": _identity_snapshot(inbound.identity),
        "request_encrypted": encrypt(json.dumps(request)) if request is not None else None, "results": results,
        "accepted_unsigned": inbound.unsigned,
    })
    if row is not None:
        return row["correlation_id"], True
    existing = await repo.transaction_by_message(inbound.header.sender_id, inbound.header.message_id)
    assert existing is not None
    return existing["correlation_id"], False


def _callback(inbound: Inbound) -> str:
    try:
        return dci_delivery.resolve_callback(inbound.header.sender_uri, inbound.sender)
    except dci_delivery.CallbackRefused as exc:
        raise DciError("err.sender_uri.invalid", str(exc)) from exc


async def _queue_reply(session: AsyncSession, correlation_id: str) -> None:
    await schedule(session, SERVICE, kind=REPLY_JOB, key=correlation_id, due_at=datetime.now(timezone.utc),
                   payload={"correlation_id": correlation_id}, replace=False)


def _pending(items: list[Any]) -> list[dict[str, Any]]:
    return [{"reference_id": i.reference_id, "timestamp": now_iso(), "status": "pdng"} for i in items]


def reply_envelope(inbound_sender: str, action: str, key: str, message: dict[str, Any],
                    items: list[dict[str, Any]]) -> dict[str, Any]:
    done = sum(1 for i in items if i.get("status") in ("succ", "rjct"))
    header = dci_delivery.callback_header(action, message_key=key, receiver_id=inbound_sender, status="succ",
                                          total=len(items), completed=done)
    return dci_delivery.signed_envelope(header, message)


# ------------------------------------------------------------------ search
async def search_items(session: AsyncSession, identity: Identity, sender_id: str,
                        items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out, seen = [], set()
    for item in items:
        if item["reference_id"] in seen:
            out.append({"reference_id": item["reference_id"], "timestamp": now_iso(), "status": "rjct",
                        "status_reason_code": "rjct.reference_id.duplicate"})
            continue
        seen.add(item["reference_id"])
        if not _valid_timestamp(item.get("timestamp")):
            out.append({"reference_id": item["reference_id"], "timestamp": now_iso(), "status": "rjct",
                        "status_reason_code": "rjct.timestamp.invalid",
                        "status_reason_message": "timestamp must be ISO 8601 with a time zone"})
            continue
        out.append(await search_item(session, identity, sender_id, item))
    return out


def _valid_timestamp(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def status_only(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("reference_id", "timestamp", "status", "status_reason_code", "status_reason_message")
    return [{k: i[k] for k in keep if k in i} | ({"total_count": i["pagination"]["total_count"]}
                                                  if "pagination" in i else {}) for i in items]


async def sync_search(request: Request, session: AsyncSession) -> dict[str, Any]:
    inbound = await receive(request, session, "search")
    body: SearchRequest = _parse(SearchRequest, inbound.message)
    _check_batch(inbound, len(body.search_request))
    items = [i.model_dump() for i in body.search_request]
    results = await search_items(session, inbound.identity, inbound.header.sender_id, items)
    correlation_id, _ = await _record(session, inbound, action="search", mode="sync", status="succ",
                                      transaction_id=body.transaction_id, results=status_only(results))
    message = {"transaction_id": body.transaction_id, "correlation_id": correlation_id, "search_response": results}
    return reply_envelope(inbound.header.sender_id, "on-search", correlation_id, message, results)


async def async_search(request: Request, session: AsyncSession) -> dict[str, Any]:
    inbound = await receive(request, session, "search")
    body: SearchRequest = _parse(SearchRequest, inbound.message)
    _check_batch(inbound, len(body.search_request))
    callback = _callback(inbound)
    correlation_id, new = await _record(
        session, inbound, action="search", mode="async", status="pdng", transaction_id=body.transaction_id,
        results=_pending(body.search_request), callback=callback, request=inbound.message,
    )
    if new:
        await _queue_reply(session, correlation_id)
    return ack("ACK", correlation_id)


# ------------------------------------------------------------------ subscribe / unsubscribe
def _reject(reference_id: str, code: str, message: str) -> dict[str, Any]:
    return {"reference_id": reference_id, "timestamp": now_iso(), "status": "rjct", "status_reason_code": code,
            "status_reason_message": message[:999]}


def _filter_type(criteria: SubscribeCriteria) -> str:
    if criteria.filter_type:
        return criteria.filter_type
    if isinstance(criteria.filter, list):
        return "predicate"
    value = criteria.filter.get("value")
    return "expression" if isinstance(value, dict) and "expression" in value else "idtype-value"


def event_type_name(raw: str) -> str:
    return raw.rsplit(":", 1)[-1]


async def _subscribe_one(session: AsyncSession, inbound: Inbound, body: SubscribeRequest, item: Any,
                         correlation_id: str, callback: str) -> dict[str, Any]:
    try:
        criteria = SubscribeCriteria.model_validate(item.subscribe_criteria)
    except ValidationError as exc:
        return _reject(item.reference_id, "rjct.notify_details.invalid", _first_error(exc, "subscribe_criteria"))
    event_type = event_type_name(criteria.reg_event_type)
    if event_type not in EVENT_TYPES:
        return _reject(item.reference_id, "rjct.notify_types.invalid",
                       f"reg_event_type must be one of {', '.join(EVENT_TYPES)}")
    filter_type = _filter_type(criteria)
    if filter_type == "graphql":
        return _reject(item.reference_id, "rjct.notify_details.invalid", "graphql filters are not supported")
    try:
        condition_for(filter_type, criteria.filter)
    except QueryError as exc:
        return _reject(item.reference_id, "rjct.notify_details.invalid", exc.reason)
    code = str(uuid.uuid4())
    frequency = criteria.frequency
    await DciRepository(session).add_subscription({
        "code": code, "sender_id": inbound.header.sender_id, "correlation_id": correlation_id,
        "transaction_id": body.transaction_id, "reference_id": item.reference_id, "reg_event_type": event_type,
        "callback_uri": callback, "identity": _identity_snapshot(inbound.identity),
        "criteria_encrypted": encrypt(json.dumps({
            "filter_type": filter_type, "filter": criteria.filter, "notify_record_type": criteria.notify_record_type,
            "reg_type": criteria.reg_type or REG_TYPE,
        })),
        "starts_at": frequency.start_time if frequency else None, "ends_at": frequency.end_time if frequency else None,
    })
    info = {"code": code, "status": "subscribe", "timestamp": now_iso(), "reg_type": criteria.reg_type or REG_TYPE,
            "reg_event_type": criteria.reg_event_type, "notify_record_type": criteria.notify_record_type}
    return {"reference_id": item.reference_id, "timestamp": now_iso(), "status": "succ", "subscriptions": [info]}


async def subscribe(request: Request, session: AsyncSession) -> dict[str, Any]:
    inbound = await receive(request, session, "subscribe")
    body: SubscribeRequest = _parse(SubscribeRequest, inbound.message)
    _check_batch(inbound, len(body.subscribe_request))
    callback = _callback(inbound)
    existing = await DciRepository(session).transaction_by_message(inbound.header.sender_id, inbound.header.message_id)
    if existing is not None:  # a resend: the subscriptions exist already
        return ack("ACK", existing["correlation_id"])
    correlation_id = str(uuid.uuid4())
    results, seen = [], set()
    for item in body.subscribe_request:
        if item.reference_id in seen:
            results.append(_reject(item.reference_id, "rjct.reference_id.duplicate", "reference_id repeated"))
        elif not _valid_timestamp(item.timestamp):
            results.append(_reject(item.reference_id, "rjct.timestamp.invalid", "timestamp must be ISO 8601"))
        else:
            results.append(await _subscribe_one(session, inbound, body, item, correlation_id, callback))
        seen.add(item.reference_id)
    await DciRepository(session).add_transaction({
        "correlation_id": correlation_id, "sender_id": inbound.header.sender_id,
        "message_id": inbound.header.message_id, "transaction_id": body.transaction_id, "action": "subscribe",
        "mode": "async", "status": "pdng", "callback_uri": callback,
        "identity": _identity_snapshot(inbound.identity), "results": results,
    })
    await _queue_reply(session, correlation_id)
    return ack("ACK", correlation_id)


async def unsubscribe(request: Request, session: AsyncSession) -> dict[str, Any]:
    inbound = await receive(request, session, "unsubscribe")
    body: UnsubscribeRequest = _parse(UnsubscribeRequest, inbound.message)
    _check_batch(inbound, 1)
    callback = _callback(inbound)
    repo = DciRepository(session)
    existing = await repo.transaction_by_message(inbound.header.sender_id, inbound.header.message_id)
    if existing is not None:
        return ack("ACK", existing["correlation_id"])
    codes = list(dict.fromkeys(body.subscription_codes))
    rows = {r["code"]: r for r in await repo.subscriptions(codes, inbound.header.sender_id, lock=True)}
    live = [c for c in codes if c in rows and rows[c]["status"] == "subscribe"]
    await repo.unsubscribe(live)
    reason = None
    if any(c not in rows for c in codes):
        reason = "rjct.subscription_code.invalid"
    elif len(live) < len(codes):
        reason = "rjct.event.already_unsubscribed"
    outcome = {"status": "rjct" if reason else "succ", "status_reason_code": reason,
               "subscription_status": [{"code": c, "status": "unsubscribe"} for c in codes if c in rows]}
    correlation_id, _ = await _record(session, inbound, action="unsubscribe", mode="async", status="pdng",
                                      transaction_id=body.transaction_id, results=[outcome], callback=callback)
    await _queue_reply(session, correlation_id)
    return ack("ACK", correlation_id)


# ------------------------------------------------------------------ transaction status
async def txn_status_message(session: AsyncSession, sender_id: str, body: TxnStatusRequest,
                             correlation_id: str) -> dict[str, Any]:
    query = body.txnstatus_request
    value: Any = query.attribute_value
    if query.attribute_type == "reference_id_list" and isinstance(value, str):
        value = [value]
    found: list[RowMapping] = []
    if query.txn_type != "receipt" and isinstance(value, list) == (query.attribute_type == "reference_id_list"):
        found = await DciRepository(session).find_transactions(sender_id, query.txn_type,
                                                               attribute=query.attribute_type, value=value)
    wanted = set(value) if isinstance(value, list) else None
    items = [
        {k: v for k, v in item.items() if k in ("reference_id", "timestamp", "status", "status_reason_code",
                                                 "status_reason_message")}
        for row in found for item in row["results"] if wanted is None or item.get("reference_id") in wanted
    ]
    if found and query.txn_type == "search":
        status = {"transaction_id": found[-1]["transaction_id"], "correlation_id": found[-1]["correlation_id"],
                  "search_response": items}
    elif found:
        status = {"transaction_id": found[-1]["transaction_id"], "correlation_id": found[-1]["correlation_id"],
                  "search_response": [
                      {"reference_id": i.get("reference_id", query.reference_id), "timestamp": i.get("timestamp",
                       now_iso()), "status": i.get("status", "pdng")}
                      | ({"status_reason_code": i["status_reason_code"]} if i.get("status_reason_code") else {})
                      for i in items or [{}]
                  ]}
    else:
        status = {"transaction_id": value if isinstance(value, str) else body.transaction_id, "correlation_id": "",
                  "search_response": [_reject(query.reference_id, "rjct.reference_id.invalid",
                                              "No such transaction of this sender")]}
    return {"transaction_id": body.transaction_id, "correlation_id": correlation_id,
            "txnstatus_response": {"txn_type": query.txn_type, "txn_status": status}}


async def sync_txn_status(request: Request, session: AsyncSession) -> dict[str, Any]:
    inbound = await receive(request, session, "txn-status")
    body: TxnStatusRequest = _parse(TxnStatusRequest, inbound.message)
    _check_batch(inbound, 1)
    correlation_id, _ = await _record(session, inbound, action="txn-status", mode="sync", status="succ",
                                      transaction_id=body.transaction_id, results=[])
    message = await txn_status_message(session, inbound.header.sender_id, body, correlation_id)
    return reply_envelope(inbound.header.sender_id, "txn-on-status", correlation_id, message, [{"status": "succ"}])


async def async_txn_status(request: Request, session: AsyncSession) -> dict[str, Any]:
    inbound = await receive(request, session, "txn-status")
    body: TxnStatusRequest = _parse(TxnStatusRequest, inbound.message)
    _check_batch(inbound, 1)
    callback = _callback(inbound)
    correlation_id, new = await _record(session, inbound, action="txn-status", mode="async", status="pdng",
                                        transaction_id=body.transaction_id, callback=callback,
                                        results=[{"reference_id": body.txnstatus_request.reference_id,
                                                  "timestamp": now_iso(), "status": "pdng"}],
                                        request=inbound.message)
    if new:
        await _queue_reply(session, correlation_id)
    return ack("ACK", correlation_id)
