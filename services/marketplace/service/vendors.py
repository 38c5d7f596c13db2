"""Vendors, and which vendors (and workers) a caller may act for."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import Forbidden, NotFound
from services.marketplace.repository.workers import VendorRepository, WorkerRepository
from services.marketplace.rules import access
from services.marketplace.schemas.workers import VendorIn, VendorOut
from services.marketplace.service.common import mask_phone, require_area, unique_as_conflict


async def vendor_reach(session: AsyncSession, identity: Identity) -> list[uuid.UUID] | None:
    """The vendors whose workers the caller manages: all (None) for marketplace admins, else the
    vendors that list the caller as a member (possibly none)."""
    if access.can(identity, access.ADMIN):
        return None
    return await VendorRepository(session).ids_for_member(sorted(access.acts_for(identity)))


async def create(session: AsyncSession, identity: Identity, body: VendorIn) -> RowMapping:
    access.require(identity, access.ADMIN)
    require_area(identity, body.area_code)
    with unique_as_conflict(f"Vendor {body.code} already exists"):
        async with session.begin_nested():
            return await VendorRepository(session).insert({**body.model_dump(), "created_by": identity.subject})


async def get(session: AsyncSession, identity: Identity, vendor_id: uuid.UUID) -> RowMapping:
    row = await VendorRepository(session).get(vendor_id)
    reach = await vendor_reach(session, identity)
    if row is None or not identity.can_access_area(row["area_code"]) or (reach is not None and vendor_id not in reach):
        raise NotFound("No such vendor in your reach.")
    return row


async def set_status(session: AsyncSession, identity: Identity, vendor_id: uuid.UUID, status: str) -> RowMapping:
    access.require(identity, access.ADMIN)
    await get(session, identity, vendor_id)
    row = await VendorRepository(session).update(vendor_id, {"status": status})
    await WorkerRepository(session).refresh_vendor(vendor_id)  # a suspended vendor's workers leave the search
    return row


async def require_manages(session: AsyncSession, identity: Identity, vendor_id: uuid.UUID) -> RowMapping:
    """The vendor, if the caller may enrol or edit its workers; another vendor's is refused (403)."""
    access.require(identity, access.WORKERS_MANAGE)
    reach = await vendor_reach(session, identity)
    row = await VendorRepository(session).get(vendor_id)
    if row is None:
        raise NotFound("No such vendor.")
    if reach is not None and vendor_id not in reach:
        raise Forbidden("You act for another vendor: a vendor manages only its own workers.")
    return row


def out(row: Mapping[Any, Any]) -> VendorOut:
    return VendorOut(**{**row, "contact_phone_masked": mask_phone(row["contact_phone"]),
                        "members": list(row["members"])})
