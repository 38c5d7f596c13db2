"""Calls to the call centre that ended without a booking: the rest of "calls per day" (a call that
booked is its booking on the call_centre channel)."""

from __future__ import annotations

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from services.marketplace.metrics import CALLS, district_of
from services.marketplace.repository.calls import CallRepository
from services.marketplace.repository.catalog import CatalogRepository
from services.marketplace.rules import access
from services.marketplace.schemas.calls import CallIn
from services.marketplace.service.common import after_commit, invalid, require_area


async def record(session: AsyncSession, identity: Identity, body: CallIn) -> RowMapping:
    access.require(identity, access.BOOK_ASSISTED)
    require_area(identity, body.area_code)
    if body.category_code is not None and await CatalogRepository(session).category(body.category_code) is None:
        raise invalid("category_code", "no such category")
    row = await CallRepository(session).create({
        "area_code": body.area_code, "category_code": body.category_code, "outcome": body.outcome,
        "note": body.note, "agent": identity.subject})
    after_commit(session, CALLS.labels(body.outcome, district_of(body.area_code)).inc)
    return row
