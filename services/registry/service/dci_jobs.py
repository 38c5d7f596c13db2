"""Background side of the DCI API: async replies, and event notifications to subscribers.

* ``dci.reply`` (one job per async request, keyed by correlation id): compute the reply and
  POST it to the caller's callback; a failed POST raises, so the scheduler retries with
  backoff, and the reply's message_id stays the same so the receiver can drop a duplicate.
* The ``registry-dci-notify`` consumer turns each ``registry.person.*`` event into one
  ``dci.notify`` job per matching subscription, keyed by (event id, subscription code): the
  consumer's inbox absorbs a redelivered event and the job key absorbs a second scheduling,
  so each subscriber is notified once per event.

Each POST is an external effect sent through :func:`kernel.effects.perform_effect`: the row in
``registry.external_effect`` (key ``dci:<action>:<correlation id | job key>``) is committed as
``attempted`` before the POST leaves, and the key goes out as the ``Idempotency-Key`` header.  A
worker that dies between the POST and recording its outcome leaves the row ``attempted``; the job
is taken over after its lease and POSTs again with the same key (and the same DCI message_id), so
the receiver can tell the repeat.  A job re-run after the outcome was recorded (its transaction
rolled back later) does not POST again.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from contracts.registry import PersonRegistered
from kernel.areas import is_within_any
from kernel.auth import Identity
from kernel.consumer import Subscription
from kernel.effects import EffectAttempt, perform_effect
from kernel.scheduler import Job, schedule
from services.registry import SERVICE
from services.registry.repository.dci import DciRepository
from services.registry.schemas.dci import SearchRequest, TxnStatusRequest
from services.registry.service import dci_delivery
from services.registry.service.common import audit
from services.registry.service.dci import (
    NOTIFY_JOB,
    REPLY_ACTIONS,
    REPLY_JOB,
    reply_envelope,
    search_items,
    status_only,
    txn_status_message,
)
from services.registry.service.dci_query import QueryError, condition_for
from services.registry.service.dci_records import IDENTIFIER_SCOPE, group_records, member_records, now_iso
from services.registry.service.identifiers import decrypt


async def _reply_message(session: AsyncSession, txn: Any, identity: Identity) -> tuple[dict[str, Any], list[Any]]:
    """(the reply message, the per-reference statuses to keep for txn/status)."""
    cid, sender_id, action = txn["correlation_id"], txn["sender_id"], txn["action"]
    if action == "search":
        body = SearchRequest.model_validate(json.loads(decrypt(txn["request_encrypted"])))
        items = await search_items(session, identity, sender_id, [i.model_dump() for i in body.search_request])
        message = {"transaction_id": txn["transaction_id"], "correlation_id": cid, "search_response": items}
        return message, status_only(items)
    if action == "subscribe":
        items = list(txn["results"])
        return {"transaction_id": txn["transaction_id"], "correlation_id": cid, "subscribe_response": items}, items
    if action == "unsubscribe":
        outcome = {k: v for k, v in txn["results"][0].items() if v is not None}
        message = {"transaction_id": txn["transaction_id"], "correlation_id": cid, "timestamp": now_iso(), **outcome}
        return message, list(txn["results"])
    body_status = TxnStatusRequest.model_validate(json.loads(decrypt(txn["request_encrypted"])))
    message = await txn_status_message(session, sender_id, body_status, cid)
    done = [{"reference_id": body_status.txnstatus_request.reference_id, "timestamp": now_iso(), "status": "succ"}]
    return message, done


async def _deliver(session: AsyncSession, base: str, action: str, message_key: str, envelope: dict[str, Any],
                   allowlist: list[str], payload: dict[str, Any]) -> None:
    """POST one callback as a recorded external effect (at most once per key, repeats carry the key)."""

    async def send(attempt: EffectAttempt) -> dict[str, Any]:
        return await dci_delivery.post(base, action, envelope, allowlist, idempotency_key=attempt.key)

    await perform_effect(session, SERVICE, kind="dci.callback", key=f"dci:{action}:{message_key}", send=send,
                         payload={"action": action, **payload})


async def reply_job(session: AsyncSession, job: Job) -> datetime | None:
    repo = DciRepository(session)
    txn = await repo.transaction(job.payload["correlation_id"], lock=True)
    if txn is None or txn["status"] in ("succ", "rjct"):
        return None
    sender = await repo.sender(txn["sender_id"])
    assert sender is not None
    message, results = await _reply_message(session, txn, Identity.model_validate(txn["identity"]))
    action = REPLY_ACTIONS[txn["action"]]
    items = results if txn["action"] != "unsubscribe" else [{"status": "succ"}]
    envelope = reply_envelope(txn["sender_id"], action, txn["correlation_id"], message, items)
    await _deliver(session, txn["callback_uri"], action, txn["correlation_id"], envelope, sender["callback_allowlist"],
                   {"sender_id": txn["sender_id"], "correlation_id": txn["correlation_id"]})
    await repo.finish_transaction(txn["correlation_id"], "succ", results)
    return None


def _criteria(sub: Any) -> dict[str, Any]:
    return json.loads(decrypt(sub["criteria_encrypted"]))  # type: ignore[no-any-return]


async def on_person_event(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    if not isinstance(event, PersonRegistered):
        return
    repo = DciRepository(session)
    for sub in await repo.live_subscriptions("REGISTER"):
        if (sub["starts_at"] and envelope.occurred_at < sub["starts_at"]) or (
            sub["ends_at"] and envelope.occurred_at > sub["ends_at"]
        ):
            continue
        scopes = sub["identity"].get("area_scope", [])
        if not is_within_any(event.area_code, scopes):
            continue
        criteria = _criteria(sub)
        try:
            condition = condition_for(criteria["filter_type"], criteria["filter"])
        except QueryError:
            continue
        if await repo.person_in_scope(event.person_id, scopes, condition) is None:
            continue
        await schedule(
            session, SERVICE, kind=NOTIFY_JOB, key=f"{envelope.id}:{sub['code']}",
            due_at=datetime.now(timezone.utc), replace=False,
            payload={"code": sub["code"], "person_id": str(event.person_id), "event_id": str(envelope.id),
                     "occurred_at": envelope.occurred_at.isoformat()},
        )


async def notify_job(session: AsyncSession, job: Job) -> datetime | None:
    repo = DciRepository(session)
    sub = await repo.subscription(job.payload["code"])
    if sub is None or sub["status"] != "subscribe":
        return None  # unsubscribed since the event: nothing is sent
    identity = Identity.model_validate(sub["identity"])
    row = await repo.person_in_scope(uuid.UUID(job.payload["person_id"]), identity.area_scope, true())
    sender = await repo.sender(sub["sender_id"])
    if row is None or sender is None:
        return None
    criteria = _criteria(sub)
    reveal = identity.has_scope(IDENTIFIER_SCOPE)
    if "group" in criteria["notify_record_type"].lower() and row["household_id"] is not None:
        homes = await repo.households([row["household_id"]])
        records, read_ids = await group_records(session, list(homes.values()), identity.area_scope, reveal)
    else:
        records, read_ids = await member_records(session, [row], reveal), [row["id"]]
    await audit(session, identity, "person", read_ids, action="dci.notify",
                purpose=f"dci:{sub['sender_id']}: subscription {sub['code']}",
                details={"sender_id": sub["sender_id"], "identifiers_disclosed": reveal})
    message = {
        "transaction_id": sub["transaction_id"],
        "notify_event": [{
            "reference_id": job.payload["event_id"],
            "timestamp": job.payload["occurred_at"],
            "data": {"version": "1.0.0", "reg_type": criteria["reg_type"], "reg_event_type": sub["reg_event_type"],
                     "reg_record_type": criteria["notify_record_type"], "reg_records": records},
        }],
    }
    header = dci_delivery.callback_header("notify", message_key=job.key, receiver_id=sub["sender_id"],
                                          status="succ", total=1, completed=1)
    await _deliver(session, sub["callback_uri"], "notify", job.key, dci_delivery.signed_envelope(header, message),
                   sender["callback_allowlist"], {"sender_id": sub["sender_id"], "subscription": sub["code"]})
    return None


JOBS = {REPLY_JOB: reply_job, NOTIFY_JOB: notify_job}
SUBSCRIPTIONS = [Subscription(name="registry-dci-notify", subject="registry.person.>", handler=on_person_event)]
