"""Webhooks for partner and department systems: one more channel, beside SMS and voice.

* **Subscriptions**: a client (or operator) subscribes an HTTPS endpoint to event types (NATS subject
  patterns over tickets, marketplace, benefits and notify events) in one area of its scope.  Each gets its
  own signing secret (shown once; stored under a Fernet key; rotation keeps the old one signing for 24 h).
* **Fan-out** (consumers ``notify-webhooks-<source>``, through the inbox): one delivery row per matching
  subscription and event, unique on (subscription, event), so a redelivered or replayed event never makes a
  second delivery.  Phone numbers in the event are masked before they leave.
* **Delivery** runs on the durable scheduler: one job per (subscription, lane), a lane being the entity the
  event is about (``ticket:<id>``), so deliveries about one entity arrive in order while other entities and
  other subscriptions go on in parallel (``webhook_concurrency`` scheduler loops per process).  Each POST
  goes through :mod:`kernel.effects`: recorded ``attempted`` under the key ``webhook:<delivery>:<n>`` before
  the request leaves, so after a crash the next try knows it may be a repeat and sends the same
  ``webhook-id`` (the receiver drops what it has already processed).
* **Failures**: a non-2xx answer, a timeout or a refused connection is retried on the delivery's schedule
  (``rules.webhooks.RETRY_SCHEDULE_SECONDS``, then failed for good), and the endpoint itself backs off
  (no attempt before ``retry_at``; one probe at a time while it fails), so a dead endpoint costs one
  timeout per backoff step, never a worker per delivery.  After ``webhook_pause_after_failures``
  consecutive failures (or one 410 Gone) the subscription is paused, ``notify.webhook.paused.v1`` is
  published and the owner's contact phone gets an SMS; deliveries wait until it is resumed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.fernet import Fernet
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.base import Envelope, Event
from contracts.notify import WebhookPaused
from kernel import roles
from kernel.areas import is_within
from kernel.auth import Identity
from kernel.consumer import Subscription
from kernel.effects import EffectAttempt, EffectFailed, give_up, perform_effect
from kernel.errors import Conflict, Forbidden, NotFound, Problem, ValidationProblem
from kernel.outbox import add_event
from kernel.scheduler import Clock, Job, Scheduler, SystemClock, schedule
from kernel.settings import LOCAL_ENVIRONMENTS
from services.notify import SERVICE
from services.notify.metrics import WEBHOOK_DELIVERIES, WEBHOOK_LATENCY, WEBHOOK_PAUSED
from services.notify.repository import webhooks as repo
from services.notify.rules import webhooks as rules
from services.notify.service.common import mask_phone
from services.notify.service.sending import Outgoing, enqueue
from services.notify.settings import NotifySettings, get_notify_settings

log = logging.getLogger("gramsetu.notify.webhooks")
LANE_JOB = "notify.webhook_lane"
SOURCES = ("tickets", "marketplace", "benefits", "notify")
ROTATION_OVERLAP = timedelta(hours=24)
PAUSED_TEMPLATE = "webhook_paused"
USER_AGENT = "GramSetu-Webhooks/1"


class SimulatedCrash(BaseException):
    """Test seam only: raised by ``after_send`` to stop the process between the receiver's answer and our
    commit, as a kill would (a BaseException, so nothing on the way records it)."""


class Rejected(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"endpoint answered {status}")
        self.status = status


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def seal(secret: str) -> str:
    return _fernet(get_notify_settings().webhook_secret_key).encrypt(secret.encode()).decode()


def unseal(token: str) -> str:
    return _fernet(get_notify_settings().webhook_secret_key).decrypt(token.encode()).decode()


def lane_key(subscription_id: uuid.UUID, lane: str) -> str:
    return f"{subscription_id}|{lane}"


def webhook_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id}"


# ------------------------------------------------------------------------------------ subscriptions
def _check_url(url: str) -> None:
    parts = urlsplit(url)
    allow_http = get_notify_settings().webhook_allow_http
    from kernel.settings import get_settings

    if get_settings().environment not in LOCAL_ENVIRONMENTS:
        allow_http = False
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
        raise ValidationProblem("The endpoint must be an https:// URL without credentials",
                                errors=[{"field": "url", "reason": f"scheme must be one of {schemes}, with a host"}])


def _check_patterns(patterns: list[str]) -> None:
    for i, pattern in enumerate(patterns):
        if not rules.valid_pattern(pattern) or pattern.split(".", 1)[0] not in SOURCES:
            raise ValidationProblem(
                f"{pattern!r} is not an event type pattern of {', '.join(SOURCES)}",
                errors=[{"field": f"event_types.{i}",
                         "reason": "a subject like tickets.ticket.resolved.v1, tickets.ticket.*.v1 or tickets.>"}])


def can_see(identity: Identity, row: RowMapping) -> bool:
    return row["owner"] == identity.subject or roles.holds(identity, "notify:admin")


async def visible_subscription(session: AsyncSession, identity: Identity, subscription_id: uuid.UUID, *,
                               lock: bool = False) -> RowMapping:
    row = await repo.get_subscription(session, subscription_id, lock=lock)
    if row is None or row["status"] == "disabled" or not can_see(identity, row):
        raise NotFound("No such webhook subscription of yours.")
    return row


async def create_subscription(session: AsyncSession, identity: Identity, *, url: str, description: str,
                              event_types: list[str], area_code: str, contact_phone: str | None,
                              contact_language: str | None, now: datetime) -> tuple[RowMapping, str]:
    """The new subscription and its secret (shown this once)."""
    _check_url(url)
    _check_patterns(event_types)
    if not identity.can_access_area(area_code):
        raise Forbidden("The area is outside your area scope: a subscription sees only events of your areas.")
    secret = rules.new_secret()
    row = await repo.create_subscription(session, {
        "owner": identity.subject, "description": description, "url": url, "event_types": sorted(set(event_types)),
        "area_code": area_code, "secret_encrypted": seal(secret), "contact_phone": contact_phone,
        "contact_language": contact_language, "created_at": now, "updated_at": now})
    return row, secret


async def rotate_secret(session: AsyncSession, identity: Identity, subscription_id: uuid.UUID,
                        now: datetime) -> tuple[RowMapping, str]:
    """A new secret; deliveries carry a signature with the old one too for 24 h (receivers switch over)."""
    row = await visible_subscription(session, identity, subscription_id, lock=True)
    secret = rules.new_secret()
    updated = await repo.update_subscription(session, row["id"], now, secret_encrypted=seal(secret),
                                             previous_secret_encrypted=row["secret_encrypted"],
                                             previous_secret_until=now + ROTATION_OVERLAP)
    assert updated is not None
    return updated, secret


async def _schedule_lane(session: AsyncSession, subscription_id: uuid.UUID, lane: str, due: datetime) -> None:
    # replace=True: if the lane's job is running now and about to finish (nothing left, as it saw), this
    # waits for it and writes the job again, so a delivery added meanwhile is never left without a job.
    await schedule(session, SERVICE, kind=LANE_JOB, key=lane_key(subscription_id, lane), due_at=due)


async def resume(session: AsyncSession, identity: Identity, subscription_id: uuid.UUID,
                 now: datetime) -> RowMapping:
    row = await visible_subscription(session, identity, subscription_id, lock=True)
    updated = await repo.update_subscription(session, row["id"], now, status="active", paused_reason=None,
                                             paused_at=None, consecutive_failures=0, retry_at=None)
    await repo.release_pending(session, row["id"], now)
    for lane in await repo.pending_lanes(session, row["id"]):
        await _schedule_lane(session, row["id"], lane, now)
    assert updated is not None
    return updated


async def disable(session: AsyncSession, identity: Identity, subscription_id: uuid.UUID, now: datetime) -> int:
    """Unsubscribe: nothing more is delivered; pending deliveries are cancelled (returned: how many)."""
    row = await visible_subscription(session, identity, subscription_id, lock=True)
    await repo.update_subscription(session, row["id"], now, status="disabled")
    return await repo.cancel_pending(session, row["id"], now)


async def redeliver(session: AsyncSession, identity: Identity, delivery_id: uuid.UUID,
                    now: datetime) -> RowMapping:
    """Send a delivered or failed delivery again (same ``webhook-id``: a receiver that processed it drops it)."""
    delivery = await repo.get_delivery(session, delivery_id, lock=True)
    if delivery is None:
        raise NotFound("No such webhook delivery of yours.")
    await visible_subscription(session, identity, delivery["subscription_id"])
    if delivery["status"] == "pending":
        return delivery
    if delivery["status"] == "cancelled":
        raise Conflict("The subscription was deleted; its cancelled deliveries are not sent.")
    await repo.set_delivery(session, delivery["id"], now, status="pending", attempts=0,
                            redeliveries=delivery["redeliveries"] + 1, next_attempt_at=now, last_error=None)
    await _schedule_lane(session, delivery["subscription_id"], delivery["lane"], now)
    WEBHOOK_DELIVERIES.labels(delivery["event_type"], "redelivery").inc()
    found = await repo.get_delivery(session, delivery_id)
    assert found is not None
    return found


async def visible_delivery(session: AsyncSession, identity: Identity, delivery_id: uuid.UUID) -> RowMapping:
    delivery = await repo.get_delivery(session, delivery_id)
    if delivery is None:
        raise NotFound("No such webhook delivery of yours.")
    await visible_subscription(session, identity, delivery["subscription_id"])
    return delivery


# ------------------------------------------------------------------------------------------ fan-out
def _masked(value: Any, key: str = "") -> Any:
    """Phone numbers never leave in clear: a field named like a phone keeps its last four digits."""
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key) for v in value]
    if "phone" in key and isinstance(value, str) and len(value) > 4:
        return mask_phone(value)
    return value


def delivery_body(envelope: Envelope) -> str:
    """The Standard Webhooks payload shape: type, timestamp, data (plus our event id and ordering)."""
    return json.dumps({
        "type": envelope.type, "timestamp": envelope.occurred_at.isoformat(), "event_id": str(envelope.id),
        "entity": envelope.entity, "entity_version": envelope.entity_version, "data": _masked(envelope.data),
    }, ensure_ascii=False, separators=(",", ":"), default=str)


async def fan_out(session: AsyncSession, event: Event, envelope: Envelope) -> int:
    """One delivery per active subscription whose patterns and area match; returns how many were new."""
    area = envelope.data.get("area_code")
    if not isinstance(area, str):
        return 0  # every subscription is filtered by area: an event about no area goes to none
    subscriptions = [s for s in await repo.active_subscriptions(session)
                     if is_within(area, s["area_code"]) and any(rules.matches(p, envelope.type)
                                                                 for p in s["event_types"])]
    if not subscriptions:
        return 0
    body = delivery_body(envelope)
    entity = rules.lane_of(envelope.type, envelope.data, envelope.entity)
    due = envelope.occurred_at
    added = 0
    for sub in subscriptions:
        delivery_id = uuid.uuid4()
        lane = entity or f"delivery:{delivery_id}"
        row = await repo.add_delivery(session, {
            "id": delivery_id, "subscription_id": sub["id"], "event_id": envelope.id, "event_type": envelope.type,
            "lane": lane, "entity_version": envelope.entity_version, "body": body, "next_attempt_at": due,
            "created_at": due, "updated_at": due})
        if row is None:
            continue  # this event was fanned out before (a redelivery or a replay)
        await _schedule_lane(session, sub["id"], lane, due)
        WEBHOOK_DELIVERIES.labels(envelope.type, "queued").inc()
        added += 1
    return added


async def _handle(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    await fan_out(session, event, envelope)


SUBSCRIPTIONS = [Subscription(name=f"{SERVICE}-webhooks-{source}", subject=f"{source}.>", handler=_handle)
                 for source in SOURCES]


# ----------------------------------------------------------------------------------------- delivery
class WebhookSender:
    """Runs the lane jobs: ``webhook_concurrency`` scheduler loops over the kind ``notify.webhook_lane``."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: NotifySettings,
                 clock: Clock | None = None, *, lease_seconds: float = 60.0) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._http: aiohttp.ClientSession | None = None
        # Test seam: runs after the endpoint answered 2xx and before the outcome is recorded.
        self.after_send: Callable[[RowMapping], Awaitable[None]] | None = None
        self.schedulers = [
            Scheduler(service=SERVICE, schema=SERVICE, sessionmaker=sessionmaker, handlers={LANE_JOB: self.run_lane},
                      clock=clock, batch_size=1, poll_interval=settings.webhook_poll_interval_seconds,
                      max_attempts=1000, lease_seconds=lease_seconds)
            for _ in range(max(1, settings.webhook_concurrency))]

    async def run_due(self) -> int:
        """Every lane job due now, in this task (tests and tools)."""
        return await self.schedulers[0].run_due()

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(s.run(stop) for s in self.schedulers))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds),
                connector=aiohttp.TCPConnector(limit_per_host=4, keepalive_timeout=4))
        return self._http

    async def run_lane(self, session: AsyncSession, job: Job) -> datetime | None:
        """Deliver the lane's first pending delivery; returns when to run again (None: the lane is empty)."""
        now = self.clock.now()
        subscription_text, lane = job.key.split("|", 1)
        sub = await repo.get_subscription(session, uuid.UUID(subscription_text))
        if sub is None or sub["status"] != "active":
            return None  # resume schedules the lanes again
        delivery = await repo.next_in_lane(session, sub["id"], lane)
        if delivery is None:
            return None
        due = max(delivery["next_attempt_at"], sub["retry_at"] or delivery["next_attempt_at"])
        if due > now:
            return due
        if sub["consecutive_failures"] > 0 and not await repo.try_probe_lock(session, sub["id"]):
            return now + timedelta(seconds=1)  # another worker is probing this failing endpoint
        return await self._attempt(session, sub, delivery, now)

    def _secrets(self, sub: RowMapping, now: datetime) -> list[str]:
        found = [unseal(sub["secret_encrypted"])]
        if sub["previous_secret_encrypted"] and sub["previous_secret_until"] and sub["previous_secret_until"] > now:
            found.append(unseal(sub["previous_secret_encrypted"]))
        return found

    async def _attempt(self, session: AsyncSession, sub: RowMapping, delivery: RowMapping,
                       now: datetime) -> datetime | None:
        key = f"webhook:{delivery['id']}:{delivery['redeliveries']}"
        body = delivery["body"].encode()
        msg_id = webhook_id(delivery["id"])
        seen: dict[str, Any] = {"status": None, "uncertain": False, "signed_at": int(now.timestamp())}
        started = time.perf_counter()

        async def post(attempt: EffectAttempt) -> dict[str, Any]:
            seen["uncertain"] = attempt.uncertain
            headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": msg_id,
                       "webhook-timestamp": str(seen["signed_at"]),
                       "webhook-signature": rules.signature_header(self._secrets(sub, now), msg_id,
                                                                   seen["signed_at"], body)}
            async with self.http.post(sub["url"], data=body, headers=headers, allow_redirects=False) as reply:
                seen["status"] = reply.status
                await reply.content.read(4096)  # drained (bounded) so the connection can be reused
            if not 200 <= reply.status < 300:
                raise Rejected(reply.status)
            if self.after_send is not None:
                await self.after_send(delivery)
            return {"status": reply.status}

        error: str | None = None
        try:
            outcome = await perform_effect(session, SERVICE, kind="webhook", key=key, send=post, payload={
                "subscription_id": str(sub["id"]), "delivery_id": str(delivery["id"]),
                "event_type": delivery["event_type"]})
            status = (outcome.result or {}).get("status", seen["status"])
        except EffectFailed:
            await repo.set_delivery(session, delivery["id"], now, status="failed")
            return now
        except Exception as exc:  # refused, reset, timed out, non-2xx: this attempt failed
            error = f"{type(exc).__name__}: {exc}"[:500] if not isinstance(exc, Rejected) else str(exc)
            status = seen["status"]
        elapsed = time.perf_counter() - started
        attempts = delivery["attempts"] + 1
        await repo.log_attempt(session, {
            "delivery_id": delivery["id"], "at": now, "effect_key": key, "uncertain": seen["uncertain"],
            "signed_at": seen["signed_at"], "status_code": status, "error": error, "duration_ms": elapsed * 1000})
        WEBHOOK_LATENCY.labels(f"{status // 100}xx" if status else "error").observe(elapsed)
        if error is None:
            await repo.set_delivery(session, delivery["id"], now, status="delivered", attempts=attempts,
                                    last_status_code=status, last_error=None, delivered_at=now)
            await repo.record_success(session, sub["id"], now)
            WEBHOOK_DELIVERIES.labels(delivery["event_type"], "delivered").inc()
            return now  # the lane's next delivery, if any, right away
        return await self._failed(session, sub, delivery, attempts, status, error, key, now)

    async def _failed(self, session: AsyncSession, sub: RowMapping, delivery: RowMapping, attempts: int,
                      status: int | None, error: str, key: str, now: datetime) -> datetime | None:
        updated = await repo.record_failure(session, sub["id"], now,
                                            rules.endpoint_backoff(sub["consecutive_failures"] + 1))
        delay = rules.retry_delay(attempts)
        if delay is None:
            await repo.set_delivery(session, delivery["id"], now, status="failed", attempts=attempts,
                                    last_status_code=status, last_error=error)
            await give_up(session, SERVICE, key=key, reason=error)
            WEBHOOK_DELIVERIES.labels(delivery["event_type"], "failed").inc()
        else:
            await repo.set_delivery(session, delivery["id"], now, attempts=attempts, last_status_code=status,
                                    last_error=error, next_attempt_at=now + timedelta(seconds=delay))
            WEBHOOK_DELIVERIES.labels(delivery["event_type"], "retry").inc()
        if rules.permanent(status):
            await self.pause(session, updated, "the endpoint answered 410 Gone", "gone", now)
            return None
        if updated["consecutive_failures"] >= self.settings.webhook_pause_after_failures:
            await self.pause(session, updated, f"{updated['consecutive_failures']} consecutive failed attempts",
                             "failures", now)
            return None
        if delay is None:
            return now  # this one is finished (failed); the lane goes on with the next
        return max(now + timedelta(seconds=delay), updated["retry_at"] or now)

    async def pause(self, session: AsyncSession, sub: RowMapping, reason: str, label: str, now: datetime) -> None:
        """Pause the subscription and tell its owner (an event, and an SMS to the contact phone if given)."""
        await repo.update_subscription(session, sub["id"], now, status="paused", paused_reason=reason, paused_at=now)
        WEBHOOK_PAUSED.labels(label).inc()
        log.warning("webhook subscription %s paused: %s", sub["id"], reason)
        await add_event(session, SERVICE, WebhookPaused(
            subscription_id=sub["id"], owner=sub["owner"], area_code=sub["area_code"], reason=reason,
            consecutive_failures=sub["consecutive_failures"]), source=SERVICE)
        if not sub["contact_phone"]:
            return
        try:
            async with session.begin_nested():
                await enqueue(session, Outgoing(
                    idempotency_key=f"webhook-paused:{sub['id']}:{int(now.timestamp())}",
                    template_key=PAUSED_TEMPLATE, source="webhook", to=sub["contact_phone"],
                    area_code=sub["area_code"], language=sub["contact_language"],
                    variables={"name": sub["description"][:30]}, urgent=True), now)
        except Problem as exc:  # no template in that language: the event and the log still tell
            log.warning("could not queue the pause SMS for subscription %s: %s", sub["id"], exc)


__all__ = ["LANE_JOB", "SUBSCRIPTIONS", "SimulatedCrash", "WebhookSender", "can_see", "create_subscription",
           "delivery_body", "disable", "redeliver", "resume", "rotate_secret", "visible_delivery",
           "visible_subscription", "webhook_id"]
