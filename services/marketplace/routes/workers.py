"""Vendor and worker routes, and the nearest-worker search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from kernel.db import DbSession
from services.marketplace.repository.workers import VendorRepository, WorkerRepository
from services.marketplace.routes.common import Limit, Now, Offset, Reader, StatementPool, VendorId, WorkerId, Writer
from services.marketplace.schemas.common import AreaCode, Code, Lat, Lon, Page
from services.marketplace.schemas.workers import (
    Availability,
    MatchOut,
    RegistryCopyOut,
    SearchOut,
    ShiftExceptionIn,
    VendorIn,
    VendorOut,
    VendorStatus,
    VerificationIn,
    VerificationOut,
    WorkerIn,
    WorkerOut,
    WorkerPatch,
)
from services.marketplace.service import matching, registry, vendors, workers
from services.marketplace.settings import get_marketplace_settings

router = APIRouter(tags=["vendors and workers"])


@router.post("/vendors", status_code=status.HTTP_201_CREATED, response_model=VendorOut, summary="Enrol a vendor")
async def create_vendor(body: VendorIn, session: DbSession, identity: Writer) -> VendorOut:
    """Enrol a vendor (an agency or a self-employed worker's own business) with its area, contact phone
    and members: the operator or client names that act for it (they manage its workers).

    **Who:** `marketplace:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `marketplace:admin`; 409 the code exists; 422 a malformed phone or member.
    """
    return vendors.out(await vendors.create(session, identity, body))


@router.get("/vendors", response_model=Page[VendorOut], summary="Vendors you may see (a vendor sees itself)")
async def list_vendors(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0
                       ) -> Page[VendorOut]:
    """Vendors in your area scope; a vendor's own operator sees only itself.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    reach = await vendors.vendor_reach(session, identity)
    rows, total = await VendorRepository(session).page(identity.area_scope, reach, limit=limit, offset=offset)
    return Page(items=[vendors.out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/vendors/{vendor_id}", response_model=VendorOut, summary="A vendor")
async def get_vendor(vendor_id: VendorId, session: DbSession, identity: Reader) -> VendorOut:
    """One vendor: area, masked contact phone, status, members.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 404 no such vendor in your reach (another vendor's too).
    """
    return vendors.out(await vendors.get(session, identity, vendor_id))


@router.put("/vendors/{vendor_id}/status", response_model=VendorOut,
            summary="Suspend or reactivate a vendor (its workers leave or rejoin the search)")
async def set_vendor_status(vendor_id: VendorId, body: VendorStatus, session: DbSession,
                            identity: Writer) -> VendorOut:
    """Suspend a vendor (its workers leave the search and get no new offers; running bookings go on)
    or reactivate it.

    **Who:** `marketplace:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `marketplace:admin`; 404 no such vendor.
    """
    return vendors.out(await vendors.set_status(session, identity, vendor_id, body.status))


@router.post("/workers", status_code=status.HTTP_201_CREATED, response_model=WorkerOut,
             summary="Enrol a worker through their vendor")
async def enrol_worker(body: WorkerIn, session: DbSession, identity: Writer, now: Now) -> WorkerOut:
    """Enrol a worker of a vendor: name, phone, languages, home and service area with position and
    radius, skills (categories), how many jobs at once, weekly shifts, their own login if any, and a
    link to their registry record (person id, identifier type, last four), checked against the
    marketplace's copy of the registry: `verified`, or `pending` while the copy lags (it settles when
    the person's registry event arrives); a link to a merged record is re-pointed to the survivor.

    **Who:** `marketplace:write` at the gateway and `marketplace:workers_manage` (a `vendor` operator or client
    on the vendor's member list; or `marketplace:admin`).

    **Errors:** 403 you do not act for this vendor; 404 no such vendor; 409 another worker uses this
    login; 422 an unknown skill, shifts that end before they start; 422 `registry_link.person_id` the
    registry records the person as deceased, or (copy current) has no such person; 422
    `registry_link.identifier_type` (copy current) the registry lists no such identifier type for them.
    """
    return await workers.to_out(session, await workers.enrol(session, identity, body, now))


@router.get("/workers", response_model=Page[WorkerOut],
            summary="Workers you may see (a vendor: its own), oldest first")
async def list_workers(session: DbSession, identity: Reader, category: Annotated[Code | None, Query(
                           description="Only workers with this skill", examples=["plumbing"])] = None,
                       available: Annotated[bool | None, Query(description="Only those available now (or not)")] = None,
                       limit: Annotated[int, Query(ge=1, le=100, description="Page size (at most 100)")] = 50,
                       offset: Offset = 0) -> Page[WorkerOut]:
    """Workers you may see (a vendor: its own), oldest first; filter by skill and availability.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 422 a malformed category or `limit` over 100.
    """
    reach = await vendors.vendor_reach(session, identity)
    rows, total = await WorkerRepository(session).page(identity.area_scope, vendor_ids=reach, category_code=category,
                                                       available=available, limit=limit, offset=offset)
    return Page(items=[await workers.to_out(session, r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/workers/{worker_id}", response_model=WorkerOut, summary="A worker (another vendor's answers 404)")
async def get_worker(worker_id: WorkerId, session: DbSession, identity: Reader) -> WorkerOut:
    """One worker: skills, shifts, availability, rating, verifications, active jobs.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 404 no such worker in your reach (another vendor's answers 404 too).
    """
    return await workers.to_out(session, await workers.reachable(session, identity, worker_id))


@router.patch("/workers/{worker_id}", response_model=WorkerOut, summary="Edit a worker, their skills or shifts")
async def update_worker(worker_id: WorkerId, body: WorkerPatch, session: DbSession, identity: Writer) -> WorkerOut:
    """Change a worker's details, skills, shifts (replace the week), service area and radius, jobs at
    once, or suspend them. Only the fields sent change.

    **Who:** `marketplace:write` at the gateway and `marketplace:workers_manage` (a `vendor` operator or client
    on the vendor's member list; or `marketplace:admin`).

    **Errors:** 403 you do not act for the worker's vendor; 404 no such worker in your reach; 422 an
    unknown skill, shifts that end before they start.
    """
    return await workers.to_out(session, await workers.update(session, identity, worker_id, body))


@router.put("/workers/{worker_id}/availability", response_model=WorkerOut,
            summary="The live available flag, with a fresh position from the worker's app")
async def set_availability(worker_id: WorkerId, body: Availability, session: DbSession,
                           identity: Writer) -> WorkerOut:
    """The worker's live switch from their app: available for offers now (with a fresh position) or
    not. Offers also respect shifts and days off.

    **Who:** `marketplace:write` at the gateway and `marketplace:worker_act`: the worker's own login, or the
    vendor acting for its worker (or `marketplace:admin`).

    **Errors:** 403 neither the worker nor their vendor; 404 no such worker in your reach; 409 available
    for a worker whose registry person is recorded as deceased; 422 a position out of range.
    """
    return await workers.to_out(session, await workers.set_availability(session, identity, worker_id, body))


@router.post("/workers/{worker_id}/shift-exceptions", status_code=status.HTTP_204_NO_CONTENT,
             summary="A day off, or different hours on one date")
async def add_exception(worker_id: WorkerId, body: ShiftExceptionIn, session: DbSession, identity: Writer) -> None:
    """A day off, or different hours on one date (a festival, a family event); offers respect it.

    **Who:** `marketplace:write` at the gateway and `marketplace:worker_act`: the worker's own login, or the
    vendor acting for its worker (or `marketplace:admin`).

    **Errors:** 403 neither the worker nor their vendor; 404 no such worker in your reach; 422 only one
    of `starts` and `ends`, or `ends` before `starts`.
    """
    await workers.add_exception(session, identity, worker_id, body)


@router.post("/workers/{worker_id}/verifications", status_code=status.HTTP_201_CREATED,
             response_model=VerificationOut, summary="Record an ID check, background check or skill test")
async def add_verification(worker_id: WorkerId, body: VerificationIn, session: DbSession,
                           identity: Writer) -> VerificationOut:
    """Record an identity check, a background check or a skill test for a trade, with its verifier,
    date, status and reference.

    **Who:** `marketplace:write` at the gateway and `marketplace:workers_manage` (a `vendor` operator or client
    on the vendor's member list; or `marketplace:admin`).

    **Errors:** 403 you do not act for the worker's vendor; 404 no such worker in your reach; 422 an
    unknown category.
    """
    row = await workers.add_verification(session, identity, worker_id, body)
    return VerificationOut.model_validate(dict(row))


@router.get("/registry-copy", response_model=RegistryCopyOut,
            summary="How current the marketplace's copy of the registry is (it checks workers' registry links)")
async def registry_copy(session: DbSession, identity: Reader, now: Now) -> RegistryCopyOut:
    """How current the marketplace's copy of the registry is (kept from the registry's person events):
    when its newest event happened, the lag in seconds, whether it counts as current (then a link to an
    unknown person is refused rather than kept pending), how many persons it holds and how many
    workers' links wait for their person. Each worker's `registry_link` carries the same `registry_as_of`.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** none beyond the gateway's 401 / 403.
    """
    return await registry.copy_state(session, now)


@router.get("/search", response_model=SearchOut,
            summary="Nearest available workers of a trade, ranked by distance, rating and load")
async def search(pool: StatementPool, identity: Reader, now: Now,
                 category: Annotated[Code, Query(description="The trade", examples=["plumbing"])],
                 lat: Annotated[Lat, Query(description="Where the job is: latitude", examples=[26.8467])],
                 lon: Annotated[Lon, Query(description="Where the job is: longitude", examples=[80.9462])],
                 area: Annotated[AreaCode, Query(description="The job's area", examples=["IN-09-0162-0820"])],
                 radius_km: Annotated[float | None, Query(gt=0, le=50, description="How far to look (default: the "
                                                                             "service's radius)")] = None,
                 limit: Annotated[int, Query(ge=1, le=50, description="At most this many workers")] = 10) -> SearchOut:
    """The nearest available workers of a trade around a point: on shift, not on a day off, within
    their own service radius and yours, ranked by distance, rating and current load. What a booking
    would offer, without booking.

    **Who:** `marketplace:read` (e-volunteers, help desks, vendors, department officers, auditors).

    **Errors:** 422 a malformed category or area, a position out of range, a radius over 50 km.
    """
    radius = radius_km or get_marketplace_settings().default_radius_km
    # The hot read path: one prepared statement on the statement pool (no session, no transaction).
    ranked = await matching.search(pool, category, lat=lat, lon=lon, radius_km=radius, area_code=area, at=now,
                                   limit=limit)
    items = [MatchOut(worker_id=r.candidate.worker_id, vendor_id=r.candidate.vendor_id, name=r.candidate.name,
                      distance_km=round(r.distance_km, 3),
                      rating=round(r.candidate.rating, 2) if r.candidate.rating_count else None,
                      active_jobs=r.candidate.active_jobs, score=round(r.score, 3)) for r in ranked]
    return SearchOut(category_code=category, radius_km=radius, items=items)
