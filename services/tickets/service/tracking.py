"""The public status page's data: a ticket found by its tracking number, public entries only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.metrics import TRACK_LOOKUPS
from services.tickets.repository.desks import CalendarRepository, DeskRepository
from services.tickets.repository.tickets import SlaRepository, TicketRepository, TimelineRepository
from services.tickets.rules.tracking import normalise
from services.tickets.service import status_page


async def status_html(session: AsyncSession, raw_number: str, lang_query: str | None,
                      accept_language: str | None) -> tuple[int, str]:
    number = normalise(raw_number)
    ticket = await TicketRepository(session).by_tracking_number(number) if number else None
    lang = status_page.pick_language(lang_query, accept_language, ticket["language"] if ticket else None)
    TRACK_LOOKUPS.labels("found" if ticket else "missing" if number else "malformed").inc()
    if ticket is None:
        return 404, status_page.render_missing(lang, raw_number[:20])
    desk = await DeskRepository(session).get(ticket["desk_id"])
    assert desk is not None
    calendar = await CalendarRepository(session).get(desk["calendar_id"])
    assert calendar is not None
    clock = await SlaRepository(session).get(ticket["id"], ticket["level_seq"], "resolution")
    open_clock = clock is not None and clock["met_at"] is None and clock["stopped_at"] is None
    deadline = clock["deadline_at"] if open_clock and clock is not None else None
    paused = open_clock and clock is not None and clock["running_since"] is None
    entries = await TimelineRepository(session).for_ticket(ticket["id"], public_only=True)
    return 200, status_page.render(lang, ticket, desk["name"], calendar["timezone"], deadline, paused, entries)
