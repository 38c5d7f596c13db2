"""Vendor and worker routes, and the nearest-worker search."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from kernel.db import DbSession
from services.marketplace.repository.workers import VendorRepository, WorkerRepository
from services.marketplace.routes.common import Limit, Now, Offset, Reader, Writer
from services.marketplace.schemas.common import AreaCode, Code, Lat, Lon, Page
from services.marketplace.schemas.workers import (
    Availability,
    MatchOut,
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
from services.marketplace.service import matching, vendors, workers
from services.marketplace.settings import get_marketplace_settings

router = APIRouter(tags=["vendors and workers"])


@router.post("/vendors", status_code=status.HTTP_201_CREATED, response_model=VendorOut, summary="Enrol a vendor")
async def create_vendor(body: VendorIn, session: DbSession, identity: Writer) -> VendorOut:
    return vendors.out(await vendors.create(session, identity, body))


@router.get("/vendors", response_model=Page[VendorOut], summary="Vendors you may see (a vendor sees itself)")
async def list_vendors(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0
                       ) -> Page[VendorOut]:
    reach = await vendors.vendor_reach(session, identity)
    rows, total = await VendorRepository(session).page(identity.area_scope, reach, limit=limit, offset=offset)
    return Page(items=[vendors.out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/vendors/{vendor_id}", response_model=VendorOut, summary="A vendor")
async def get_vendor(vendor_id: uuid.UUID, session: DbSession, identity: Reader) -> VendorOut:
    return vendors.out(await vendors.get(session, identity, vendor_id))


@router.put("/vendors/{vendor_id}/status", response_model=VendorOut,
            summary="Suspend or reactivate a vendor (its workers leave or rejoin the search)")
async def set_vendor_status(vendor_id: uuid.UUID, body: VendorStatus, session: DbSession,
                            identity: Writer) -> VendorOut:
    return vendors.out(await vendors.set_status(session, identity, vendor_id, body.status))


@router.post("/workers", status_code=status.HTTP_201_CREATED, response_model=WorkerOut,
             summary="Enrol a worker through their vendor")
async def enrol_worker(body: WorkerIn, session: DbSession, identity: Writer) -> WorkerOut:
    return await workers.to_out(session, await workers.enrol(session, identity, body))


@router.get("/workers", response_model=Page[WorkerOut],
            summary="Workers you may see (a vendor: its own), oldest first")
async def list_workers(session: DbSession, identity: Reader, category: Annotated[Code | None, Query()] = None,
                       available: bool | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 50,
                       offset: Offset = 0) -> Page[WorkerOut]:
    reach = await vendors.vendor_reach(session, identity)
    rows, total = await WorkerRepository(session).page(identity.area_scope, vendor_ids=reach, category_code=category,
                                                       available=available, limit=limit, offset=offset)
    return Page(items=[await workers.to_out(session, r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/workers/{worker_id}", response_model=WorkerOut, summary="A worker (another vendor's answers 404)")
async def get_worker(worker_id: uuid.UUID, session: DbSession, identity: Reader) -> WorkerOut:
    return await workers.to_out(session, await workers.reachable(session, identity, worker_id))


@router.patch("/workers/{worker_id}", response_model=WorkerOut, summary="Edit a worker, their skills or shifts")
async def update_worker(worker_id: uuid.UUID, body: WorkerPatch, session: DbSession, identity: Writer) -> WorkerOut:
    return await workers.to_out(session, await workers.update(session, identity, worker_id, body))


@router.put("/workers/{worker_id}/availability", response_model=WorkerOut,
            summary="The live available flag, with a fresh position from the worker's app")
async def set_availability(worker_id: uuid.UUID, body: Availability, session: DbSession,
                           identity: Writer) -> WorkerOut:
    return await workers.to_out(session, await workers.set_availability(session, identity, worker_id, body))


@router.post("/workers/{worker_id}/shift-exceptions", status_code=status.HTTP_204_NO_CONTENT,
             summary="A day off, or different hours on one date")
async def add_exception(worker_id: uuid.UUID, body: ShiftExceptionIn, session: DbSession, identity: Writer) -> None:
    await workers.add_exception(session, identity, worker_id, body)


@router.post("/workers/{worker_id}/verifications", status_code=status.HTTP_201_CREATED,
             response_model=VerificationOut, summary="Record an ID check, background check or skill test")
async def add_verification(worker_id: uuid.UUID, body: VerificationIn, session: DbSession,
                           identity: Writer) -> VerificationOut:
    row = await workers.add_verification(session, identity, worker_id, body)
    return VerificationOut.model_validate(dict(row))


@router.get("/search", response_model=SearchOut,
            summary="Nearest available workers of a trade, ranked by distance, rating and load")
async def search(session: DbSession, identity: Reader, now: Now, category: Annotated[Code, Query()],
                 lat: Annotated[Lat, Query()], lon: Annotated[Lon, Query()], area: Annotated[AreaCode, Query()],
                 radius_km: Annotated[float | None, Query(gt=0, le=50)] = None,
                 limit: Annotated[int, Query(ge=1, le=50)] = 10) -> SearchOut:
    radius = radius_km or get_marketplace_settings().default_radius_km
    ranked = await matching.search(session, category, lat=lat, lon=lon, radius_km=radius, area_code=area, at=now,
                                   limit=limit)
    items = [MatchOut(worker_id=r.candidate.worker_id, vendor_id=r.candidate.vendor_id, name=r.candidate.name,
                      distance_km=round(r.distance_km, 3),
                      rating=round(r.candidate.rating, 2) if r.candidate.rating_count else None,
                      active_jobs=r.candidate.active_jobs, score=round(r.score, 3)) for r in ranked]
    return SearchOut(category_code=category, radius_km=radius, items=items)
