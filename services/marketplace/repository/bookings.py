"""Bookings, their transitions and extra-work lines."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from kernel.areas import within_any
from kernel.outbox import notify_unless_awake
from services.marketplace.models import booking, booking_extra, booking_otp_failure, booking_transition
from services.marketplace.repository.catalog import CATALOG_VERSION
from services.marketplace.repository.common import Tx, first, first_of, paged, positional, rows
from services.marketplace.repository.search import ranked_text_sql

_BOOKING = tuple(c.name for c in booking.c)  # named, not *: the result's columns are read by position

# An offer in one statement: claim the worker if it can still take one (under READ COMMITTED a
# concurrent claim waits for the row lock and re-checks, so one booking wins), take its skill rows
# out of the search index, record the transition, set the accept deadline (the kernel scheduler's
# row, as kernel.scheduler.schedule writes it), drop a pending re-match, and move the booking.
# Nothing happens unless the claim did: then no row comes back and the caller tries the next worker.
_FREE = "{w}pending_offer IS NULL AND {w}available AND {w}status = 'active' AND {w}active_jobs < {w}max_jobs"
_OFFER = positional(
    "WITH claimed AS ("
    " UPDATE marketplace.worker SET pending_offer = :booking_id WHERE id = :worker_id AND "
    + _FREE.format(w="") + " RETURNING id), "
    "unlisted AS (UPDATE marketplace.worker_skill SET matchable = false"
    " WHERE worker_id IN (SELECT id FROM claimed) AND matchable), "
    "step AS (INSERT INTO marketplace.booking_transition (booking_id, from_status, to_status, action, actor,"
    " worker_id, details, request_id) SELECT :booking_id, :from_status, 'offered', 'offer', 'system', id,"
    " CAST(:details AS jsonb), :request_id FROM claimed), "
    "deadline AS (INSERT INTO marketplace.scheduled_job (kind, key, due_at, payload)"
    " SELECT :timeout_kind, :job_key, :expires, CAST(:payload AS jsonb) FROM claimed"
    " ON CONFLICT (kind, key) DO UPDATE SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload, attempts = 0,"
    " last_error = NULL, failed_at = NULL, lease_owner = NULL, lease_until = NULL), "
    "rematch AS (DELETE FROM marketplace.scheduled_job WHERE kind = :rematch_kind AND key = :job_key"
    " AND EXISTS (SELECT 1 FROM claimed)) "
    "UPDATE marketplace.booking b SET status = 'offered', offer_worker_id = c.id, offer_attempt = :attempt,"
    " offer_expires_at = :expires, version = b.version + 1, updated_at = now() FROM claimed c"
    " WHERE b.id = :booking_id RETURNING " + ", ".join(f"b.{name}" for name in _BOOKING),
    _BOOKING)


# The columns a new booking is written with (the rest take their defaults).
_CREATED_COLUMNS = (
    "id", "channel", "status", "category_code", "job_code", "area_code", "lat", "lon", "address", "slot_start",
    "slot_end", "customer_name", "customer_phone", "customer_subject", "assisted_by", "department_code",
    "office_code", "purchase_ref", "beckn_transaction_id", "beckn_bap_id", "beckn_bap_uri", "max_radius_km",
    "priced_on", "job_rate_id", "price_minor", "visit_charge_minor", "terms", "start_otp_hash",
    "completion_otp_hash", "created_by")
_NEW = {"status": "CASE WHEN c.id IS NULL THEN 'requested' ELSE 'offered' END", "terms": "CAST(:terms AS jsonb)"}
# A new booking with everything else of its creation, its match and its offer in one statement (a booking
# made 7 round trips, then 4, now 3: BEGIN, this, COMMIT; bench/marketplace_per_booking.py --trace):
# - only while the rate card is still at the version its quote was read at (catalog_state; a cached quote
#   after a change inserts nothing, returns no row, and the caller re-reads);
# - ``pick``: the best of the nearest workers of its trade who can take it (repository/search.py's ranked
#   query) and were free in the statement's snapshot; no row lock (FOR UPDATE ... SKIP LOCKED cost 0.3 ms
#   of the server's CPU per booking, a fifth of the statement's);
# - the claim on that worker (as _OFFER's: a concurrent claim waits for the row lock and re-checks), its
#   skill rows out of the search index. If another booking claimed it first, nothing is claimed, the
#   booking is written ``requested`` and ``picked`` says the caller should offer it to the next
#   (service/matching.py's offer_free, as _OFFER does for a re-offer);
# - the booking, ``offered`` to the claimed worker (version 2: created, then offered, as before) or
#   ``requested``; its ``create`` and ``offer`` transitions; the accept deadline, or the re-match job when
#   nobody could take it (kernel.scheduler.schedule's rows: replace, and first wins);
# - its BookingCreated event in the outbox with the relay's wake-up (kernel.outbox, as add_events writes).
_CREATE_AND_OFFER = (
    "WITH current AS (SELECT 1 WHERE " + CATALOG_VERSION + " = :catalog_version), "
    "pick AS ({ranked} ORDER BY score, w.id LIMIT 1), "
    "claimed AS (UPDATE marketplace.worker w SET pending_offer = :id FROM pick p WHERE w.id = p.id AND "
    + _FREE.format(w="w.") + " RETURNING w.id, p.km), "
    "unlisted AS (UPDATE marketplace.worker_skill SET matchable = false"
    " WHERE worker_id IN (SELECT id FROM claimed) AND matchable), "
    "created AS (INSERT INTO marketplace.booking (" + ", ".join(_CREATED_COLUMNS)
    + ", offer_worker_id, offer_attempt, offer_expires_at, version) SELECT "
    + ", ".join(_NEW.get(c, f":{c}") for c in _CREATED_COLUMNS)
    + ", c.id, CASE WHEN c.id IS NULL THEN 0 ELSE 1 END, CASE WHEN c.id IS NULL THEN NULL ELSE"
    " CAST(:expires AS timestamptz) END, CASE WHEN c.id IS NULL THEN 1 ELSE 2 END"
    " FROM current LEFT JOIN claimed c ON true RETURNING *), "
    "step AS (INSERT INTO marketplace.booking_transition (booking_id, from_status, to_status, action, actor,"
    " worker_id, details, request_id) SELECT id, NULL, 'requested', 'create', :created_by, NULL,"
    " CAST(:details AS jsonb), :request_id FROM created UNION ALL SELECT b.id, 'requested', 'offered', 'offer',"
    " 'system', c.id, jsonb_build_object('distance_km', round(CAST(c.km AS numeric), 3), 'attempt', 1),"
    " :request_id FROM created b CROSS JOIN claimed c), "
    "deadline AS (INSERT INTO marketplace.scheduled_job (kind, key, due_at, payload) SELECT :timeout_kind,"
    " CAST(b.id AS text), b.offer_expires_at, jsonb_build_object('attempt', 1, 'worker_id', CAST(c.id AS text))"
    " FROM created b CROSS JOIN claimed c), "
    "rematch AS (INSERT INTO marketplace.scheduled_job (kind, key, due_at, payload) SELECT :rematch_kind,"
    " CAST(b.id AS text), :rematch_at, '{}' FROM created b WHERE b.offer_worker_id IS NULL"
    " ON CONFLICT (kind, key) DO NOTHING), "
    "written AS (INSERT INTO marketplace.outbox (id, subject, payload, headers) SELECT :event_id, :event_subject,"
    " CAST(:event_payload AS jsonb), CAST(:event_headers AS jsonb) FROM created), "
    "notified AS (" + notify_unless_awake(":notify_channel") + ") "
    "SELECT " + ", ".join(_BOOKING) + ", (SELECT count(*) FROM notified) AS notified,"
    " (SELECT count(*) FROM pick) AS picked FROM created"
)


@lru_cache(maxsize=8)
def _create_and_offer(limit: int) -> TextualSelect:
    ranked = ranked_text_sql(limit, also="EXISTS (SELECT 1 FROM current) AND " + _FREE.format(w="w."))
    return positional(_CREATE_AND_OFFER.replace("{ranked}", ranked), (*_BOOKING, "notified", "picked"))


async def offer(db: Tx, booking: Mapping[Any, Any], worker_id: uuid.UUID, *, attempt: int, expires: datetime,
                details: dict[str, Any], request_id: str | None, timeout_kind: str,
                rematch_kind: str) -> Mapping[Any, Any] | None:
    """Offer the booking to the worker in one round trip; None if the worker was taken meanwhile."""
    return await first_of(db, _OFFER, dict(
        booking_id=booking["id"], worker_id=worker_id, from_status=booking["status"],
        details=json.dumps(details), request_id=request_id, timeout_kind=timeout_kind,
        job_key=str(booking["id"]), expires=expires,
        payload=json.dumps({"attempt": attempt, "worker_id": str(worker_id)}), rematch_kind=rematch_kind,
        attempt=attempt))


async def create_and_offer(db: Tx, values: Mapping[str, Any], *, details: dict[str, Any], request_id: str | None,
                           catalog_version: str, event: Mapping[str, Any], notify_channel: str,
                           nearest: Mapping[str, Any], limit: int, expires: datetime, timeout_kind: str,
                           rematch_kind: str, rematch_at: datetime) -> Mapping[Any, Any] | None:
    """Insert, match and offer the booking as :data:`_CREATE_AND_OFFER` says: its row, ``offered`` or
    ``requested`` (with ``picked`` 1 if the worker it picked was claimed meanwhile); None when the rate card
    changed since ``catalog_version`` (nothing written)."""
    params = {c: values.get(c) for c in _CREATED_COLUMNS if c not in _NEW}
    return await first_of(db, _create_and_offer(limit), {
        **params, "terms": json.dumps(values["terms"]), "details": json.dumps(details), "request_id": request_id,
        "catalog_version": catalog_version, "event_id": event["id"], "event_subject": event["subject"],
        "event_payload": event["payload"], "event_headers": event["headers"], "notify_channel": notify_channel,
        "expires": expires, "timeout_kind": timeout_kind, "rematch_kind": rematch_kind, "rematch_at": rematch_at,
        **nearest})


class BookingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, booking_id: uuid.UUID, *, lock: bool = False) -> RowMapping | None:
        stmt = select(booking).where(booking.c.id == booking_id)
        return await first(self.session, stmt.with_for_update() if lock else stmt)

    async def by_beckn(self, bap_id: str, transaction_id: str) -> RowMapping | None:
        return await first(self.session, select(booking).where(
            booking.c.beckn_bap_id == bap_id, booking.c.beckn_transaction_id == transaction_id))

    async def update(self, booking_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = (update(booking).where(booking.c.id == booking_id)
                .values(**values, version=booking.c.version + 1, updated_at=func.now()).returning(booking))
        row = await first(self.session, stmt)
        assert row is not None
        return row

    async def record(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(booking_transition).values(**values))

    async def transitions(self, booking_id: uuid.UUID) -> list[RowMapping]:
        stmt = (select(booking_transition).where(booking_transition.c.booking_id == booking_id)
                .order_by(booking_transition.c.id))
        return list(await rows(self.session, stmt))

    async def otp_failures(self, booking_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(booking_otp_failure.c.booking_id == booking_id)
        return int(await self.session.scalar(stmt) or 0)

    async def record_otp_failure(self, booking_id: uuid.UUID, purpose: str) -> None:
        """In a transaction of its own, so the count survives the failed request's rollback."""
        engine = self.session.bind
        async with engine.connect() as conn:  # type: ignore[union-attr]
            await conn.execute(insert(booking_otp_failure).values(booking_id=booking_id, purpose=purpose))
            await conn.commit()

    async def add_extra(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(booking_extra).values(**values).returning(booking_extra))
        assert row is not None
        return row

    async def extras(self, booking_id: uuid.UUID) -> list[RowMapping]:
        stmt = (select(booking_extra).where(booking_extra.c.booking_id == booking_id)
                .order_by(booking_extra.c.added_at, booking_extra.c.id))
        return list(await rows(self.session, stmt))

    async def page(self, scopes: Sequence[str], customer_subject: str | None, *, status: str | None,
                   channel: str | None, since: datetime | None, limit: int, offset: int
                   ) -> tuple[list[RowMapping], int]:
        stmt = select(booking).where(within_any(booking.c.area_code, list(scopes)))
        if customer_subject is not None:
            stmt = stmt.where(booking.c.customer_subject == customer_subject)
        if status:
            stmt = stmt.where(booking.c.status == status)
        if channel:
            stmt = stmt.where(booking.c.channel == channel)
        if since:
            stmt = stmt.where(booking.c.created_at >= since)
        stmt = stmt.order_by(booking.c.created_at.desc(), booking.c.id.desc())
        return await paged(self.session, stmt, limit=limit, offset=offset)
