"""``on_<action>`` callbacks: written in the request's transaction, delivered by a scheduler job.

Each callback is a row with an idempotency key (the BAP, the request's ``message_id`` and the
callback action; for unsolicited ``on_status`` the booking and its row version), so a BAP retrying
a request gets no second callback.  Delivery goes through ``kernel.effects.perform_effect``: the
attempt is recorded before the POST and the outcome after, so a crash in between re-sends the same
body with the same ``message_id`` (which a BAP deduplicates on) instead of sending something new.
A failed POST is retried by the scheduler with backoff."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.effects import EffectAttempt, perform_effect
from kernel.scheduler import Job, schedule
from services.marketplace import SERVICE
from services.marketplace.beckn import signing
from services.marketplace.metrics import BECKN_CALLBACKS
from services.marketplace.repository.beckn import BecknRepository
from services.marketplace.settings import get_marketplace_settings

CALLBACK = "marketplace.beckn_callback"


def reply_context(context: Mapping[str, Any], action: str, now: datetime, *, message_id: str | None = None
                  ) -> dict[str, Any]:
    settings = get_marketplace_settings()
    return {**{k: context[k] for k in ("domain", "location", "version", "bap_id", "bap_uri", "transaction_id")
               if k in context},
            "action": action, "bpp_id": settings.bpp_id, "bpp_uri": settings.bpp_uri,
            "message_id": message_id or context["message_id"],
            "timestamp": now.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"), "ttl": "PT30S"}


async def enqueue(session: AsyncSession, context: Mapping[str, Any], action: str, message: dict[str, Any] | None,
                  now: datetime, *, error: dict[str, Any] | None = None, key: str | None = None,
                  message_id: str | None = None) -> None:
    body: dict[str, Any] = {"context": reply_context(context, action, now, message_id=message_id),
                            "message": message or {}}
    if error is not None:
        body["error"] = error
    idempotency_key = key or f"{context['bap_id']}:{context['message_id']}:{action}"
    url = str(context["bap_uri"]).rstrip("/") + "/" + action
    callback_id = await BecknRepository(session).add_callback(
        {"idempotency_key": idempotency_key, "action": action, "url": url, "body": body})
    if callback_id is not None:
        await schedule(session, SERVICE, kind=CALLBACK, key=str(callback_id), due_at=now)


async def deliver_callback(session: AsyncSession, job: Job) -> datetime | None:
    repo = BecknRepository(session)
    row = await repo.callback(uuid.UUID(job.key))
    if row is None or row["status"] == "sent":
        return None
    settings = get_marketplace_settings()
    now = job.now or job.due_at  # the scheduler's clock, not the wall clock
    body = json.dumps(row["body"], separators=(",", ":"), ensure_ascii=False).encode()
    status: dict[str, int] = {}

    async def post(attempt: EffectAttempt) -> dict[str, Any]:
        header = signing.sign(body, signing.private_key(settings.bpp_signing_seed), subscriber_id=settings.bpp_id,
                              unique_key_id=settings.bpp_unique_key_id, created=int(now.timestamp()))
        timeout = aiohttp.ClientTimeout(total=settings.callback_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                row["url"], data=body, headers={"Authorization": header, "Content-Type": "application/json",
                                                "Idempotency-Key": attempt.key}) as response:
            status["code"] = response.status
            if response.status >= 300:
                BECKN_CALLBACKS.labels(row["action"], "failed").inc()
                raise RuntimeError(f"{row['action']} to the BAP answered {response.status}")
        BECKN_CALLBACKS.labels(row["action"], "sent").inc()
        return {"status": response.status}

    outcome = await perform_effect(session, SERVICE, kind="beckn_callback", key=row["idempotency_key"],
                                   payload={"action": row["action"]}, send=post)
    await repo.callback_done(row["id"], {"status": "sent", "attempts": outcome.attempts,
                                         "response_status": status.get("code"), "sent_at": now})
    return None
