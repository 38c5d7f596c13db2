"""The dispatcher: hands due messages to the provider, at most once each.

Each round, in order:

1. One transaction drops expired messages (a stale reminder is never sent late), cancels those whose
   phone has opted out since they were queued, takes what the per-sender, per-account and voice rates
   allow (token buckets in the database, shared by every replica), and marks them ``attempting``
   (attempt count, time) — the record of the side effect, committed BEFORE the provider is called.
2. The provider calls run concurrently, outside any transaction.
3. One transaction records the answers: the provider's id and status (unless a callback got there
   first), a retry with backoff for transient errors only, failure for permanent ones, an opt-out for
   "unsubscribed recipient".  A request whose answer never came stays ``attempting``.

A message still ``attempting`` after ``reconcile_after_seconds`` (the process died between the
provider's accept and step 3, or the answer was lost) is reconciled with the provider's own message
list: a message the provider holds for that phone with the same text (and no other message of ours
claims it) is adopted; only if none exists is the message queued again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.db import transaction
from kernel.outbox import add_events
from kernel.scheduler import Clock, SystemClock
from services.notify import SERVICE
from services.notify.metrics import (
    COST,
    DROPPED_STALE,
    FUNNEL,
    PROVIDER_LATENCY,
    RECONCILED,
    RETRIES,
    SEGMENTS,
    district,
)
from services.notify.providers.base import Accepted, OutboundCall, OutboundSms, Provider, ProviderError
from services.notify.repository import messages as repo
from services.notify.repository import rates as rates_repo
from services.notify.rules.errors import Verdict
from services.notify.rules.status import advance
from services.notify.rules.timing import retry_delay
from services.notify.service.optouts import record_opt_out
from services.notify.service.sending import callback_url, failed_event
from services.notify.settings import NotifySettings

log = logging.getLogger("gramsetu.notify.dispatch")
Outcome = tuple[RowMapping, Accepted | ProviderError]
RECONCILE_SKEW = timedelta(minutes=2)  # our clock and the provider's may differ a little


class Rates:
    """Per-sender and per-account SMS segment rates and the account's call rate, as token buckets in the
    database (``repository/rates.py``): every dispatcher of every replica draws from the same buckets, in the
    transaction that marks the chosen messages ``attempting``."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        account = settings.twilio_account_sid
        self.sender, self.account, self.voice = (f"sms-sender:{settings.sms_from}", f"sms-account:{account}",
                                                 f"voice-account:{account}")

    async def choose(self, session: AsyncSession, rows: Sequence[RowMapping]) -> list[RowMapping]:
        """The rows the rates allow now, in order (a long SMS that does not fit lets a shorter one behind it go)."""
        if not rows:
            return []
        s = self.settings
        texts = any(r["channel"] != "voice" for r in rows)
        calls = any(r["channel"] == "voice" for r in rows)
        buckets = []
        if texts:
            buckets += [(self.sender, s.sender_messages_per_second, s.sender_messages_per_second),
                        (self.account, s.account_messages_per_second, s.account_messages_per_second)]
        if calls:
            buckets.append((self.voice, s.voice_calls_per_second, max(s.voice_calls_per_second, 1.0)))
        tokens = await rates_repo.refill(session, buckets)
        segments_left = min(tokens[self.sender], tokens[self.account]) if texts else 0.0
        calls_left = tokens[self.voice] if calls else 0.0
        chosen: list[RowMapping] = []
        used_segments = used_calls = 0.0
        for row in rows:
            if row["channel"] == "voice":
                if used_calls + 1 <= calls_left:
                    used_calls += 1
                    chosen.append(row)
            elif used_segments + max(row["segments"], 1) <= segments_left:
                used_segments += max(row["segments"], 1)
                chosen.append(row)
        await rates_repo.take(session, {self.sender: used_segments, self.account: used_segments,
                                        self.voice: used_calls})
        return chosen


class Dispatcher:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], provider: Provider, settings: NotifySettings,
                 clock: Clock | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.provider = provider
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.rates = Rates(settings)
        self.semaphore = asyncio.Semaphore(settings.dispatch_concurrency)
        # Test seam: runs after the provider answered and before the answers are recorded (a crash there).
        self.after_provider: Callable[[Sequence[Outcome]], Awaitable[None]] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        last_reconcile = 0.0
        while not stop.is_set():
            handled = 0
            try:
                handled = await self.dispatch_once()
                if time.monotonic() - last_reconcile > 5.0:
                    last_reconcile = time.monotonic()
                    await self.reconcile_once()
            except Exception:
                log.exception("dispatch round failed")
            if not handled:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.dispatch_poll_interval_seconds)
                except asyncio.TimeoutError:
                    pass

    async def dispatch_once(self) -> int:
        """One round; returns how many messages it settled or handed over."""
        now = self.clock.now()
        async with transaction(self.sessionmaker) as session:
            settled = await self._drop_stale(session, now)
            claimed = await repo.claim_due(session, now, self.settings.dispatch_batch_size)
            settled += await self._cancel_opted_out(session, [r for r in claimed if r["opted_out_phone"]], now)
            chosen = await self.rates.choose(session, [r for r in claimed if not r["opted_out_phone"]])
            await repo.mark_attempting(session, [r["id"] for r in chosen], now)
            await repo.log_events(session, [{"message_id": r["id"], "kind": "attempt", "status": "attempting",
                                             "detail": {"attempt": r["attempts"] + 1}} for r in chosen])
        if not chosen:
            return settled
        outcomes = await asyncio.gather(*(self._hand_over(r) for r in chosen))
        if self.after_provider is not None:
            await self.after_provider(outcomes)
        async with transaction(self.sessionmaker) as session:
            await self._record(session, outcomes, self.clock.now())
        return settled + len(chosen)

    async def _drop_stale(self, session: AsyncSession, now: datetime) -> int:
        stale = await repo.expire_stale(session, now)
        for row in stale:
            DROPPED_STALE.labels(row["template_key"]).inc()
            FUNNEL.labels(row["template_key"], district(row["area_code"]), row["channel"], "failed").inc()
        await repo.log_events(session, [{"message_id": r["id"], "kind": "expired", "status": "expired"} for r in stale])
        await add_events(session, SERVICE, [failed_event(r, "expired") for r in stale], source=SERVICE)
        return len(stale)

    async def _cancel_opted_out(self, session: AsyncSession, rows: Sequence[RowMapping], now: datetime) -> int:
        """Opted out after they were queued: honoured here too, whatever queued them."""
        await repo.set_status(session, [r["id"] for r in rows], now, status="opted_out", final_at=now)
        await repo.log_events(session, [{"message_id": r["id"], "kind": "opted_out", "status": "opted_out"}
                                        for r in rows])
        await add_events(session, SERVICE, [failed_event(r, "opted_out") for r in rows], source=SERVICE)
        return len(rows)

    async def _hand_over(self, row: RowMapping) -> Outcome:
        operation = "call" if row["channel"] == "voice" else "sms"
        started = time.perf_counter()
        async with self.semaphore:
            try:
                if row["channel"] == "voice":
                    result: Accepted | ProviderError = await self.provider.place_call(OutboundCall(
                        to=row["to_phone"], twiml=row["twiml"], status_callback=callback_url("status", row["id"])))
                else:
                    valid = row["valid_until"]
                    seconds = int((valid - self.clock.now()).total_seconds()) if valid else None
                    result = await self.provider.send_sms(OutboundSms(
                        to=row["to_phone"], body=row["body"], status_callback=callback_url("status", row["id"]),
                        validity_seconds=min(seconds, self.settings.provider_queue_validity_seconds)
                        if seconds else None))
            except ProviderError as exc:
                result = exc
        outcome = "accepted" if isinstance(result, Accepted) else result.verdict.value
        PROVIDER_LATENCY.labels(self.provider.name, operation, outcome).observe(time.perf_counter() - started)
        return row, result

    async def _record(self, session: AsyncSession, outcomes: Sequence[Outcome], now: datetime) -> None:
        accepted = [{"id": row["id"], "provider_id": r.provider_id, "status": r.status}
                    for row, r in outcomes if isinstance(r, Accepted)]
        await repo.record_accepted(session, accepted, now)
        events: list[dict[str, Any]] = []
        finals = []
        for row, result in outcomes:
            labels = (row["template_key"], district(row["area_code"]), row["channel"])
            if isinstance(result, Accepted):
                FUNNEL.labels(*labels, "sent").inc()
                SEGMENTS.labels(row["template_key"], row["encoding"]).inc(row["segments"])
                COST.labels(row["template_key"]).inc(row["estimated_cost"])
                events.append({"message_id": row["id"], "kind": "accepted", "status": result.status,
                               "detail": {"provider_id": result.provider_id}})
                continue
            detail = {"http_status": result.http_status, "code": result.code, "error": str(result)[:300]}
            events.append({"message_id": row["id"], "kind": result.verdict.value, "detail": detail})
            final = await self._settle_error(session, row, result, now)
            if final:
                FUNNEL.labels(*labels, "failed").inc()
                finals.append(failed_event(row, final, result.code))
        await repo.log_events(session, events)
        await add_events(session, SERVICE, finals, source=SERVICE)

    async def _settle_error(self, session: AsyncSession, row: RowMapping, error: ProviderError,
                            now: datetime) -> str | None:
        """Apply a provider error; returns the final status if the message is finished."""
        verdict, attempts = error.verdict, row["attempts"] + 1
        if verdict is Verdict.AMBIGUOUS:
            return None  # stays attempting: reconciled with the provider's list, never simply resent
        if verdict is Verdict.TRANSIENT and attempts < self.settings.max_attempts:
            delay = retry_delay(attempts, str(row["id"]), self.settings.retry_base_seconds,
                                self.settings.retry_max_seconds)
            RETRIES.labels(str(error.code or error.http_status)).inc()
            await repo.set_status(session, [row["id"]], now, status="pending", error_code=error.code,
                                  error=str(error)[:500], not_before=now + timedelta(seconds=delay))
            return None
        if verdict is Verdict.OPT_OUT:
            await record_opt_out(session, phone=row["to_phone"], source="provider", actor="provider", now=now,
                                 person_id=row["person_id"], area_code=row["area_code"], reason=str(error)[:200])
        status = "opted_out" if verdict is Verdict.OPT_OUT else "failed"
        await repo.set_status(session, [row["id"]], now, status=status, error_code=error.code,
                              error=str(error)[:500], final_at=now)
        return status

    async def reconcile_once(self, min_age_seconds: float | None = None) -> dict[str, int]:
        """Settle attempts whose answer we never recorded, from the provider's own message list."""
        age = self.settings.reconcile_after_seconds if min_age_seconds is None else min_age_seconds
        now = self.clock.now()
        counts = {"adopted": 0, "requeued": 0, "unknown": 0}
        async with transaction(self.sessionmaker) as session:
            for row in await repo.attempting_before(session, now - timedelta(seconds=age), 100):
                result = await self._reconcile_one(session, row, now)
                counts[result] += 1
                RECONCILED.labels(result).inc()
        return counts

    async def _reconcile_one(self, session: AsyncSession, row: RowMapping, now: datetime) -> str:
        if row["channel"] == "voice":
            # Calls are not matched by text; ringing someone twice is worse than one missing call.
            await repo.set_status(session, [row["id"]], now, status="failed", error="outcome unknown", final_at=now)
            await repo.log_events(session, [{"message_id": row["id"], "kind": "reconciled", "status": "failed"}])
            return "unknown"
        held = await self.provider.sent_to(row["to_phone"], row["attempted_at"] - RECONCILE_SKEW)
        taken = await repo.provider_ids_taken(session, [m.provider_id for m in held])
        match = next((m for m in reversed(held) if m.body == row["body"] and m.provider_id not in taken), None)
        if match is None:
            await repo.set_status(session, [row["id"]], now, status="pending", not_before=now)
            await repo.log_events(session, [{"message_id": row["id"], "kind": "reconciled", "status": "pending",
                                             "detail": {"provider_has_it": False}}])
            return "requeued"
        await repo.set_status(session, [row["id"]], now, provider_id=match.provider_id, accepted_at=now,
                              status=advance("attempting", match.status))
        await repo.log_events(session, [{"message_id": row["id"], "kind": "reconciled", "status": match.status,
                                         "detail": {"provider_has_it": True, "provider_id": match.provider_id}}])
        return "adopted"
