"""Workers: enrolment through a vendor, skills, shifts and exceptions, verifications, the live
availability flag and position, and the registry link."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import Conflict, NotFound
from services.marketplace.repository.catalog import CatalogRepository
from services.marketplace.repository.registry import RegistryCopyRepository
from services.marketplace.repository.workers import WorkerRepository
from services.marketplace.rules import access
from services.marketplace.rules.availability import Shift, ShiftException, on_shift
from services.marketplace.schemas.workers import (
    Availability,
    RegistryLinkOut,
    ShiftExceptionIn,
    ShiftIn,
    VerificationIn,
    VerificationOut,
    WorkerIn,
    WorkerOut,
    WorkerPatch,
)
from services.marketplace.service import registry, vendors
from services.marketplace.service.common import invalid, mask_phone, require_area, unique_as_conflict


async def _check_skills(session: AsyncSession, codes: list[str], field: str) -> list[str]:
    repo = CatalogRepository(session)
    unique = sorted(set(codes))
    for i, code in enumerate(unique):
        if await repo.category(code) is None:
            raise invalid(f"{field}.{i}", f"unknown category {code}")
    return unique


async def enrol(session: AsyncSession, identity: Identity, body: WorkerIn, now: datetime) -> RowMapping:
    await vendors.require_manages(session, identity, body.vendor_id)
    require_area(identity, body.service_area_code)
    skills = await _check_skills(session, body.skills, "skills")
    link: dict[str, Any] = {}
    if body.registry_link is not None:
        verdict = await registry.check_link(session, body.registry_link, now)
        link = {"registry_person_id": verdict.person_id,  # the survivor when the record was merged
                "registry_identifier_type": body.registry_link.identifier_type,
                "registry_identifier_last4": body.registry_link.identifier_last4,
                "registry_link_status": verdict.status, "registry_checked_at": now}
    values = body.model_dump(exclude={"skills", "shifts", "registry_link"})
    repo = WorkerRepository(session)
    with unique_as_conflict("Another worker already uses this operator_subject"):
        async with session.begin_nested():
            row = await repo.insert({**values, **link, "lat": body.home_lat, "lon": body.home_lon,
                                     "created_by": identity.subject, "updated_by": identity.subject})
    await repo.set_skills(row["id"], skills, row["lat"], row["lon"])
    await repo.set_shifts(row["id"], [s.model_dump() for s in body.shifts])
    return row


async def reachable(session: AsyncSession, identity: Identity, worker_id: uuid.UUID, *,
                    lock: bool = False) -> RowMapping:
    """The worker if the caller may see or act for it: admins, its vendor, or the worker itself.
    Anything else answers 404, as if it did not exist (another vendor cannot probe)."""
    row = await WorkerRepository(session).get(worker_id, lock=lock)
    if row is None or not identity.can_access_area(row["service_area_code"]):
        raise NotFound("No such worker in your reach.")
    if row["operator_subject"] is not None and row["operator_subject"] == identity.subject:
        return row
    reach = await vendors.vendor_reach(session, identity)
    if reach is not None and row["vendor_id"] not in reach:
        raise NotFound("No such worker in your reach.")
    return row


async def update(session: AsyncSession, identity: Identity, worker_id: uuid.UUID, body: WorkerPatch) -> RowMapping:
    access.require(identity, access.WORKERS_MANAGE)
    row = await reachable(session, identity, worker_id, lock=True)
    repo = WorkerRepository(session)
    values = body.model_dump(exclude_unset=True, exclude={"skills", "shifts"})
    if body.service_area_code:
        require_area(identity, body.service_area_code)
    values = {k: v for k, v in values.items() if v is not None}
    if values:
        row = await repo.update(worker_id, {**values, "updated_by": identity.subject})
    if body.skills is not None:
        await repo.set_skills(worker_id, await _check_skills(session, body.skills, "skills"), row["lat"], row["lon"])
    if body.shifts is not None:
        await repo.set_shifts(worker_id, [s.model_dump() for s in body.shifts])
    await repo.refresh_matchable([worker_id])
    return row


async def set_availability(session: AsyncSession, identity: Identity, worker_id: uuid.UUID,
                           body: Availability) -> RowMapping:
    access.require(identity, access.WORKER_ACT)
    current = await reachable(session, identity, worker_id, lock=True)
    if body.available and current["registry_link_status"] == "deceased":
        raise Conflict("The registry records this worker's person as deceased; the worker cannot take offers.")
    repo = WorkerRepository(session)
    values: dict[str, Any] = {"available": body.available, "updated_by": identity.subject}
    if body.lat is not None and body.lon is not None:
        values |= {"lat": body.lat, "lon": body.lon, "location_at": func.now()}
    row = await repo.update(worker_id, values)
    if body.lat is not None and body.lon is not None:
        await repo.move_skills(worker_id, body.lat, body.lon)
    await repo.refresh_matchable([worker_id])
    return row


async def add_exception(session: AsyncSession, identity: Identity, worker_id: uuid.UUID,
                        body: ShiftExceptionIn) -> None:
    access.require(identity, access.WORKER_ACT)
    await reachable(session, identity, worker_id)
    await WorkerRepository(session).put_exception(worker_id, body.model_dump())


async def add_verification(session: AsyncSession, identity: Identity, worker_id: uuid.UUID,
                           body: VerificationIn) -> RowMapping:
    access.require(identity, access.WORKERS_MANAGE)
    await reachable(session, identity, worker_id)
    if body.category_code is not None:
        await _check_skills(session, [body.category_code], "category_code")
    return await WorkerRepository(session).add_verification({"worker_id": worker_id, **body.model_dump()})


async def to_out(session: AsyncSession, row: Mapping[Any, Any]) -> WorkerOut:
    repo = WorkerRepository(session)
    wid = row["id"]
    link = None
    if row["registry_person_id"] is not None:
        link = RegistryLinkOut(person_id=row["registry_person_id"], identifier_type=row["registry_identifier_type"],
                               identifier_last4=row["registry_identifier_last4"],
                               status=row["registry_link_status"] or "pending", checked_at=row["registry_checked_at"],
                               registry_as_of=await RegistryCopyRepository(session).last_event_at())
    return WorkerOut(
        **{k: row[k] for k in ("id", "vendor_id", "name", "home_area_code", "service_area_code", "home_lat",
                               "home_lon", "lat", "lon", "service_radius_km", "available", "status", "rating_count",
                               "active_jobs", "max_jobs", "completed_jobs", "version")},
        phone_masked=mask_phone(row["phone"]) or "",
        languages=list(row["languages"]),
        rating=round(row["rating_sum"] / row["rating_count"], 2) if row["rating_count"] else None,
        skills=(await repo.skills([wid])).get(wid, []),
        shifts=[ShiftIn(weekday=s["weekday"], starts=s["starts"], ends=s["ends"]) for s in await repo.shifts([wid])],
        exceptions=[ShiftExceptionIn(**{k: e[k] for k in ("on_date", "available", "starts", "ends", "reason")})
                    for e in await repo.exceptions([wid])],
        verifications=[VerificationOut(**{k: v[k] for k in ("id", "kind", "status", "verifier", "verified_on",
                                                             "category_code", "reference")})
                       for v in await repo.verifications(wid)],
        registry_link=link,
    )


async def works_at(session: AsyncSession, worker_id: uuid.UUID, moment: datetime) -> bool:
    """Do the worker's weekly shifts, and that day's exception, cover this local moment?"""
    repo = WorkerRepository(session)
    shifts = [Shift(r["weekday"], r["starts"], r["ends"]) for r in await repo.shifts([worker_id])]
    exceptions = [ShiftException(r["on_date"], r["available"], r["starts"], r["ends"])
                  for r in await repo.exceptions([worker_id]) if r["on_date"] == moment.date()]
    return on_shift(shifts, exceptions, moment)
