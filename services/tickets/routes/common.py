"""Dependencies shared by the tickets routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import Depends, Path, Query, Request

from kernel.auth import Identity, require_scope

Reader = Annotated[Identity, require_scope("tickets:read")]
Writer = Annotated[Identity, require_scope("tickets:write")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip (the page's start)")]
TicketId = Annotated[uuid.UUID, Path(description="The ticket's id (not its tracking number)")]
DeskId = Annotated[uuid.UUID, Path(description="The help desk's id (from GET /desks)")]
CalendarId = Annotated[uuid.UUID, Path(description="The business calendar's id (from GET /calendars)")]


async def _now(request: Request) -> datetime:
    """The service's clock (the scheduler's), so tests that move it move every deadline calculation.
    ``async`` so that FastAPI calls it inline: a plain function dependency costs a thread-pool round trip."""
    scheduler = request.app.state.runtime.scheduler
    return scheduler.clock.now()  # type: ignore[no-any-return]


Now = Annotated[datetime, Depends(_now)]


async def _statements(request: Request) -> asyncpg.Pool:
    return await request.app.state.runtime.statement_pool()  # type: ignore[no-any-return]


# Autocommit single statements (a ticket's creation is one): no BEGIN and COMMIT round trips around it.
Statements = Annotated[asyncpg.Pool, Depends(_statements)]
