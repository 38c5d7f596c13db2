"""External side effects (SMS, webhooks, DCI callbacks, payments) sent at most once per idempotency key.

A database transaction cannot include an HTTP call, so "apply once" needs another shape:

1. **Record the attempt first**: ``<schema>.external_effect`` gets (or updates) the row for the
   effect's idempotency key, status ``attempted``, attempts + 1, in its *own* committed
   transaction, before anything leaves the process.
2. **Send** with that key (``Idempotency-Key`` header, the provider's client reference, ...).
3. **Record the outcome** (``sent`` with the receiver's answer, or the error) in another
   committed transaction.

A crash between 1 and 3 leaves the row ``attempted``: the next try (a retried job, a redelivered
event) sees ``attempt.uncertain`` and sends again *with the same key*, so the receiver can tell
it is a repeat (or the sender asks the receiver first).  A row already ``sent`` is never sent
again: :func:`perform_effect` returns the stored result instead.

API (usable from a scheduler job, a consumer handler or a route)::

    from kernel.effects import perform_effect

    async def send_sms(attempt: EffectAttempt) -> dict:
        reply = await sms_client.post(..., headers={"Idempotency-Key": attempt.key})
        return {"provider_id": reply["sid"]}          # stored as the effect's result

    outcome = await perform_effect(session, "notify", kind="sms", key=f"sms:{alert_id}:{phone_hash}",
                                   payload={"template": "ticket_escalated"}, send=send_sms)
    outcome.result          # what ``send`` returned now, or the stored result of an earlier send
    outcome.sent_now        # False when an earlier attempt had already completed it

``session`` only lends its engine: the records commit on their own connections, whatever
happens to the caller's transaction.  If ``send`` raises, the error is stored (status stays
``attempted``) and re-raised, so the caller's retry machinery (scheduler backoff, consumer NAK)
tries again with the same key.  :func:`give_up` marks an effect ``failed`` for good.
Keys are the caller's business identity of the effect (never a random id per try), at most
500 characters; the payload is for operators and must not hold a phone number or national ID
in clear.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kernel.metrics import EXTERNAL_EFFECTS

log = logging.getLogger("gramsetu.effects")
MAX_KEY_LENGTH = 500


@dataclass(frozen=True)
class EffectAttempt:
    """One try at an effect, given to the sender."""

    key: str
    kind: str
    attempt: int  # 1 for the first try
    uncertain: bool  # an earlier try may have reached the receiver (crashed before its outcome was stored)
    payload: dict[str, Any]


@dataclass(frozen=True)
class EffectOutcome:
    key: str
    result: dict[str, Any] | None
    sent_now: bool
    attempts: int


class EffectFailed(Exception):
    """The effect was given up for good (:func:`give_up`); it is not sent again."""


Sender = Callable[[EffectAttempt], Awaitable[dict[str, Any] | None]]


def _engine(session_or_engine: AsyncSession | AsyncEngine) -> AsyncEngine:
    if isinstance(session_or_engine, AsyncEngine):
        return session_or_engine
    bind = session_or_engine.bind
    if not isinstance(bind, AsyncEngine):  # a session bound to a connection: use its engine
        bind = bind.engine  # type: ignore[union-attr]
    return bind  # type: ignore[return-value]


async def record_attempt(
    db: AsyncSession | AsyncEngine, schema: str, *, kind: str, key: str, payload: dict[str, Any] | None = None
) -> tuple[EffectAttempt | None, EffectOutcome | None]:
    """Commit "attempted" for ``key`` (step 1).  Returns (attempt, None) to send now, or
    (None, outcome) when the effect was already sent; raises :class:`EffectFailed` when given up."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an effect key is 1 to {MAX_KEY_LENGTH} characters")
    table = f'"{schema}".external_effect'
    async with _engine(db).begin() as conn:
        row = (await conn.execute(
            text(
                f"INSERT INTO {table} (key, kind, payload, status, attempts, attempted_at) "
                "VALUES (:key, :kind, CAST(:payload AS jsonb), 'attempted', 1, clock_timestamp()) "
                "ON CONFLICT (key) DO UPDATE SET "
                f"attempts = {table}.attempts + CASE WHEN {table}.status = 'attempted' THEN 1 ELSE 0 END, "
                f"attempted_at = CASE WHEN {table}.status = 'attempted' THEN clock_timestamp() "
                f"ELSE {table}.attempted_at END "
                "RETURNING status, attempts, result, (xmax = 0) AS inserted"
            ),
            {"key": key, "kind": kind, "payload": json.dumps(payload or {}, default=str)},
        )).one()
    if row.status == "sent":
        EXTERNAL_EFFECTS.labels(schema, kind, "already_sent").inc()
        return None, EffectOutcome(key=key, result=row.result, sent_now=False, attempts=row.attempts)
    if row.status == "failed":
        raise EffectFailed(f"effect {key!r} was given up")
    return EffectAttempt(key=key, kind=kind, attempt=row.attempts, uncertain=row.attempts > 1,
                         payload=payload or {}), None


async def record_sent(db: AsyncSession | AsyncEngine, schema: str, attempt: EffectAttempt,
                      result: dict[str, Any] | None) -> None:
    async with _engine(db).begin() as conn:
        await conn.execute(
            text(f'UPDATE "{schema}".external_effect SET status = \'sent\', result = CAST(:result AS jsonb), '
                 "finished_at = clock_timestamp(), last_error = NULL WHERE key = :key"),
            {"key": attempt.key, "result": json.dumps(result, default=str) if result is not None else None},
        )
    EXTERNAL_EFFECTS.labels(schema, attempt.kind, "sent").inc()


async def record_error(
    db: AsyncSession | AsyncEngine, schema: str, attempt: EffectAttempt, error: BaseException
) -> None:
    async with _engine(db).begin() as conn:
        await conn.execute(
            text(f'UPDATE "{schema}".external_effect SET last_error = :error WHERE key = :key'),
            {"key": attempt.key, "error": f"{type(error).__name__}: {error}"[:2000]},
        )
    EXTERNAL_EFFECTS.labels(schema, attempt.kind, "error").inc()


async def give_up(db: AsyncSession | AsyncEngine, schema: str, *, key: str, reason: str) -> bool:
    """Mark an unsent effect ``failed`` for good (e.g. the receiver rejected it permanently)."""
    async with _engine(db).begin() as conn:
        result = await conn.execute(
            text(f'UPDATE "{schema}".external_effect SET status = \'failed\', last_error = :reason, '
                 "finished_at = clock_timestamp() WHERE key = :key AND status = 'attempted' RETURNING kind"),
            {"key": key, "reason": reason[:2000]},
        )
        kind = result.scalar_one_or_none()
    if kind is not None:
        EXTERNAL_EFFECTS.labels(schema, kind, "failed").inc()
    return kind is not None


async def perform_effect(
    db: AsyncSession | AsyncEngine,
    schema: str,
    *,
    kind: str,
    key: str,
    send: Sender,
    payload: dict[str, Any] | None = None,
) -> EffectOutcome:
    """Record the attempt, send, record the outcome (see the module docstring)."""
    attempt, done = await record_attempt(db, schema, kind=kind, key=key, payload=payload)
    if done is not None:
        return done
    assert attempt is not None
    if attempt.uncertain:
        log.info("effect %s/%s: attempt %d after an unfinished one; resending with the same key",
                 kind, key, attempt.attempt)
    try:
        result = await send(attempt)
    except Exception as error:
        await record_error(db, schema, attempt, error)
        raise
    await record_sent(db, schema, attempt, result)
    return EffectOutcome(key=key, result=result, sent_now=True, attempts=attempt.attempt)


async def effect_status(db: AsyncSession | AsyncEngine, schema: str, key: str) -> dict[str, Any] | None:
    async with _engine(db).connect() as conn:
        row = (await conn.execute(
            text(f'SELECT key, kind, status, attempts, result, last_error FROM "{schema}".external_effect '
                 "WHERE key = :key"), {"key": key})).mappings().first()
    return dict(row) if row else None
