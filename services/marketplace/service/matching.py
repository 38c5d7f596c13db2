"""Nearest available workers, and offering a booking to the best one that is still free.

An offer is a claim on the worker row (``pending_offer``), taken with a conditional UPDATE: two
bookings racing for the last free worker serialise on that row and the loser moves on to its
next candidate, so no worker ever holds two offers (a unique partial index on the booking table
says the same again).  A new booking picks and claims its worker inside its own insert
(repository/bookings.py); only when that worker was claimed by another booking meanwhile does it
come here, as a re-offer (decline, time-out, withdrawal) does: rank, then :func:`offer_best`.
The accept deadline is a durable scheduler job; when it fires the offer
goes to the next worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.context import request_id_var
from kernel.scheduler import cancel, schedule
from services.marketplace import SERVICE
from services.marketplace.metrics import SEARCH_SECONDS, UNMATCHED
from services.marketplace.repository.bookings import BookingRepository, offer
from services.marketplace.repository.common import RawTx, Tx
from services.marketplace.repository.search import Db, lane, nearest, ranked_named
from services.marketplace.repository.workers import WorkerRepository
from services.marketplace.rules.availability import Shift, ShiftException, on_shift
from services.marketplace.rules.matching import Candidate, Ranked, rank
from services.marketplace.service.common import after_commit, invalid
from services.marketplace.settings import get_marketplace_settings

OFFER_TIMEOUT = "marketplace.offer_timeout"
REMATCH = "marketplace.rematch"
ZONES = {"IN": ZoneInfo("Asia/Kolkata"), "BD": ZoneInfo("Asia/Dhaka")}


def local_time(area_code: str, moment: datetime) -> datetime:
    return moment.astimezone(ZONES.get(area_code[:2], ZoneInfo("UTC")))


# Category code -> search lane.  A category's lane never changes once created, so each process keeps
# what it has looked up (one round trip less per search).
_LANES: dict[str, int] = {}


async def _lane(db: Db, category_code: str) -> int:
    found = _LANES.get(category_code)
    if found is None:
        found = await lane(db, category_code)
        if found is None:
            raise invalid("category", f"unknown category {category_code}")
        _LANES[category_code] = found
    return found


async def search(db: Db, category_code: str, *, lat: float, lon: float, radius_km: float,
                 area_code: str, at: datetime, exclude: Sequence[uuid.UUID] = (),
                 limit: int = 10) -> list[Ranked]:
    """Workers of the trade who can take a job now, within the radius, best first: only those whose
    shifts (and that day's exceptions) cover the local moment ``at``.  ``db`` is the request's
    session, or the statement pool for a search on its own (``GET /search``)."""
    settings = get_marketplace_settings()
    moment = local_time(area_code, at)
    started = time.perf_counter()
    skill_no = await _lane(db, category_code)
    fetched = await nearest(db, lat=lat, lon=lon, radius_km=radius_km, skill_no=skill_no, exclude=exclude,
                            limit=max(settings.candidates, limit), day=moment.date())
    SEARCH_SECONDS.observe(time.perf_counter() - started)
    return best(fetched, lat=lat, lon=lon, radius_km=radius_km, moment=moment, limit=limit)


def best(fetched: Sequence[tuple[Candidate, list[Shift], list[ShiftException]]], *, lat: float, lon: float,
         radius_km: float, moment: datetime, limit: int) -> list[Ranked]:
    """The fetched candidates on shift at the local ``moment``, ranked, best first."""
    working = {c.worker_id for c, shifts, exceptions in fetched if on_shift(shifts, exceptions, moment)}
    ranked = rank((c for c, _, _ in fetched), lat, lon, radius_km)
    return [r for r in ranked if r.candidate.worker_id in working][:limit]


async def candidates_query(session: Tx, booking: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The parameters of the ranked nearest-worker query for a new booking (``repository.bookings.create_and_offer``):
    workers on shift at the local time of its slot (or now, if the slot has begun)."""
    moment = local_time(booking["area_code"], max(booking["slot_start"], now))
    skill_no = await _lane(session.conn if isinstance(session, RawTx) else session, booking["category_code"])
    return ranked_named(booking["lat"], booking["lon"], booking["max_radius_km"], skill_no, moment)


async def record(session: AsyncSession, booking: Mapping[Any, Any], to_status: str, action: str, actor: str, *,
                 worker_id: uuid.UUID | None = None, details: dict[str, Any] | None = None) -> None:
    await BookingRepository(session).record({
        "booking_id": booking["id"], "from_status": booking["status"], "to_status": to_status, "action": action,
        "actor": actor, "worker_id": worker_id, "details": details or {}, "request_id": request_id_var.get()})


async def offer_next(session: AsyncSession, booking: RowMapping, now: datetime) -> RowMapping:
    """Offer a ``requested`` booking to the best free worker; if nobody is free, look again later."""
    return cast(RowMapping, await offer_free(session, booking, now))  # on a session: a RowMapping


async def offer_free(session: Tx, booking: Mapping[Any, Any], now: datetime) -> Mapping[Any, Any]:
    """:func:`offer_next` on either kind of transaction (a new booking whose pick was claimed meanwhile)."""
    settings = get_marketplace_settings()
    ranked = await search(session.conn if isinstance(session, RawTx) else session, booking["category_code"],
                          lat=booking["lat"], lon=booking["lon"], radius_km=booking["max_radius_km"],
                          area_code=booking["area_code"], at=max(booking["slot_start"], now),
                          exclude=booking["tried_workers"], limit=settings.candidates)
    return await offer_best(session, booking, [(r.candidate.worker_id, r.distance_km) for r in ranked], now)


async def offer_best(session: Tx, booking: Mapping[Any, Any], ranked: Sequence[tuple[uuid.UUID, float]],
                     now: datetime) -> Mapping[Any, Any]:
    """Offer the booking to the first of ``ranked`` (worker id, km; best first) still free; if nobody
    is, look again later."""
    settings = get_marketplace_settings()
    expires = now + timedelta(seconds=int(booking["terms"]["offer_timeout_seconds"]))
    attempt = booking["offer_attempt"] + 1
    for worker_id, km in ranked:
        # Claim, transition, deadline and the booking's new state in one statement (repository).
        row = await offer(session, booking, worker_id, attempt=attempt, expires=expires,
                          details={"distance_km": round(km, 3), "attempt": attempt},
                          request_id=request_id_var.get(), timeout_kind=OFFER_TIMEOUT, rematch_kind=REMATCH)
        if row is not None:
            return row
    after_commit(session, UNMATCHED.labels(booking["category_code"]).inc)
    await schedule(session.conn if isinstance(session, RawTx) else session, SERVICE, kind=REMATCH,
                   key=str(booking["id"]), due_at=now + timedelta(seconds=settings.rematch_after_seconds),
                   replace=False)
    return booking


async def withdraw_offer(session: AsyncSession, booking: RowMapping, action: str, actor: str) -> RowMapping:
    """The offered worker declined or let the offer lapse: free them, remember them, back to requested."""
    worker_id = booking["offer_worker_id"]
    await WorkerRepository(session).release_offer(worker_id, booking["id"])
    await record(session, booking, "requested", action, actor, worker_id=worker_id)
    await cancel(session, SERVICE, kind=OFFER_TIMEOUT, key=str(booking["id"]))
    return await BookingRepository(session).update(booking["id"], {
        "status": "requested", "offer_worker_id": None, "offer_expires_at": None,
        "tried_workers": [*booking["tried_workers"], worker_id]})
