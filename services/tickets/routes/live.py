"""Server-sent event streams of a ticket's and a desk's changes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from kernel.db import DbSession, asyncpg_dsn
from services.tickets.routes.common import Reader
from services.tickets.rules.access import is_agent
from services.tickets.service.common import visible_ticket
from services.tickets.service.live import LiveHub, desk_stream_start, stream
from services.tickets.settings import get_tickets_settings

router = APIRouter(tags=["live"])
LastEventId = Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=2**62)]
SSE: dict[int | str, dict[str, Any]] = {200: {"description": "text/event-stream of timeline entries (id = entry seq)",
             "content": {"text/event-stream": {}}}}


def _hub(request: Request) -> LiveHub:
    hub = getattr(request.app.state, "live_hub", None)
    if hub is None:
        hub = request.app.state.live_hub = LiveHub(asyncpg_dsn(request.app.state.runtime.database_url))
    return hub  # type: ignore[no-any-return]


def _response(request: Request, key: str, after: int, fetch: object) -> StreamingResponse:
    body = stream(_hub(request), request.app.state.sessionmaker, key, after=after, fetch=fetch,  # type: ignore[arg-type]
                  heartbeat=get_tickets_settings().sse_heartbeat_seconds, disconnected=request.is_disconnected)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{ticket_id:uuid}/stream", response_class=StreamingResponse, responses=SSE,
            summary="Live: the ticket's timeline entries as they happen (resume with Last-Event-ID)")
async def ticket_stream(ticket_id: uuid.UUID, request: Request, session: DbSession, identity: Reader,
                        last_event_id: LastEventId = None) -> StreamingResponse:
    await visible_ticket(session, identity, ticket_id)
    public_only = not is_agent(identity)
    await session.close()  # the stream reads in short sessions of its own; hold no connection while idle

    async def fetch(repo: object, after: int) -> object:
        return await repo.for_ticket(ticket_id, public_only=public_only, after=after)  # type: ignore[attr-defined]

    return _response(request, f"ticket:{ticket_id}", last_event_id or 0, fetch)


@router.get("/desks/{desk_id}/stream", response_class=StreamingResponse, responses=SSE,
            summary="Live: every change to the desk's tickets (agents of the area)")
async def desk_stream(desk_id: uuid.UUID, request: Request, session: DbSession, identity: Reader,
                      last_event_id: LastEventId = None) -> StreamingResponse:
    after = await desk_stream_start(session, identity, desk_id, last_event_id)
    await session.close()

    async def fetch(repo: object, since: int) -> object:
        return await repo.for_desk(desk_id, after=since)  # type: ignore[attr-defined]

    return _response(request, f"desk:{desk_id}", after, fetch)
