"""Dependencies shared by the marketplace routes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import asyncpg
from fastapi import Depends, Path, Query, Request

from kernel.auth import Identity, require_scope
from services.marketplace.service.common import utcnow

Reader = Annotated[Identity, require_scope("marketplace:read")]
Writer = Annotated[Identity, require_scope("marketplace:write")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip (the page's start)")]
BookingId = Annotated[uuid.UUID, Path(description="The booking's id (from POST /bookings or a list)")]
WorkerId = Annotated[uuid.UUID, Path(description="The worker's id (from POST /workers or a list)")]
VendorId = Annotated[uuid.UUID, Path(description="The vendor's id (from POST /vendors or a list)")]
Since = Annotated[date | None, Query(description="From this day (default: the last 30 days)")]
Until = Annotated[date | None, Query(description="Up to this day, exclusive (default: today)")]


async def _now(request: Request) -> datetime:
    """The service's clock (the scheduler's, which tests replace with a ManualClock).  ``async`` so
    that FastAPI calls it inline: a plain function dependency costs a thread-pool round trip."""
    runtime = request.app.state.runtime
    return utcnow(runtime.scheduler.clock if runtime.scheduler is not None else runtime.clock)


Now = Annotated[datetime, Depends(_now)]


async def _statement_pool(request: Request) -> asyncpg.Pool:
    return await request.app.state.runtime.statement_pool()  # type: ignore[no-any-return]


StatementPool = Annotated[asyncpg.Pool, Depends(_statement_pool)]
