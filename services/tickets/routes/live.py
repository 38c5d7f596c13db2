"""Server-sent event streams of a ticket's and a desk's changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from kernel.db import DbSession, asyncpg_dsn
from services.tickets.repository.tickets import TimelineRepository
from services.tickets.routes.common import DeskId, Reader, TicketId
from services.tickets.rules.access import is_agent
from services.tickets.service.common import visible_ticket
from services.tickets.service.live import (
    Fetch,
    LiveHub,
    Position,
    desk_position,
    desk_stream_start,
    stream,
    ticket_position,
)
from services.tickets.settings import get_tickets_settings

router = APIRouter(tags=["live"])
LastEventId = Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=2**62,
                                            description="Resume after this entry (the last `id:` received)")]
DeskLastEventId = Annotated[str | None, Header(
    alias="Last-Event-ID", max_length=40,
    description="Resume after this event: `<xid>.<seq>`, the last `id:` received from this desk's stream")]
SSE: dict[int | str, dict[str, Any]] = {200: {"description": "text/event-stream of timeline entries",
             "content": {"text/event-stream": {}}}}


def _hub(request: Request) -> LiveHub:
    hub = getattr(request.app.state, "live_hub", None)
    if hub is None:
        hub = request.app.state.live_hub = LiveHub(asyncpg_dsn(request.app.state.runtime.database_url))
    return hub  # type: ignore[no-any-return]


def _response(request: Request, key: str, after: Position, fetch: Fetch,
              position: Callable[[Mapping[Any, Any]], Position]) -> StreamingResponse:
    body = stream(_hub(request), request.app.state.sessionmaker, key, after=after, fetch=fetch, position=position,
                  heartbeat=get_tickets_settings().sse_heartbeat_seconds, disconnected=request.is_disconnected)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{ticket_id:uuid}/stream", response_class=StreamingResponse, responses=SSE,
            summary="Live: the ticket's timeline entries as they happen (resume with Last-Event-ID)")
async def ticket_stream(ticket_id: TicketId, request: Request, session: DbSession, identity: Reader,
                        last_event_id: LastEventId = None) -> StreamingResponse:
    """Server-sent events: each new timeline entry of the ticket as it happens (`id:` is the entry's
    sequence number), with heartbeats. Reconnect with `Last-Event-ID` to get what was missed.
    Reporters get public entries only.

    **Who:** `tickets:read`: an agent of a desk in the ticket's area, or its reporter.

    **Errors:** 404 no such ticket for you.
    """
    await visible_ticket(session, identity, ticket_id)
    public_only = not is_agent(identity)
    await session.close()  # the stream reads in short sessions of its own; hold no connection while idle

    async def fetch(repo: TimelineRepository, after: Position) -> tuple[list[Mapping[Any, Any]], bool]:
        return list(await repo.for_ticket(ticket_id, public_only=public_only, after=after[0])), False

    return _response(request, f"ticket:{ticket_id}", (last_event_id or 0,), fetch, ticket_position)


@router.get("/desks/{desk_id}/stream", response_class=StreamingResponse, responses=SSE,
            summary="Live: every change to the desk's tickets (agents of the area); resume with Last-Event-ID "
                    "with no gap and no duplicate")
async def desk_stream(desk_id: DeskId, request: Request, session: DbSession, identity: Reader,
                      last_event_id: DeskLastEventId = None) -> StreamingResponse:
    """Server-sent events: every change to any ticket of the desk (new, assigned, moved, commented,
    breached), for a desk's live board. Event ids are `<xid>.<seq>`: entries come in the order their
    transactions settle, so resuming with `Last-Event-ID` skips nothing and repeats nothing.

    **Who:** `tickets:read` and `tickets:work`: an agent whose area scope holds the desk's area.

    **Errors:** 403 not an agent; 404 no such desk in your area; 422 a malformed `Last-Event-ID`.
    """
    after = await desk_stream_start(session, identity, desk_id, last_event_id)
    await session.close()

    async def fetch(repo: TimelineRepository, since: Position) -> tuple[list[Mapping[Any, Any]], bool]:
        rows, held = await repo.for_desk(desk_id, after=(since[0], since[1]))
        return list(rows), held

    return _response(request, f"desk:{desk_id}", after, fetch, desk_position)
