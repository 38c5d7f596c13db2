"""The tickets service's demo data for ``gramsetu up``: calendars with gazetted holidays, desks at
block, district and state (upazila, district, division) in the demo areas, agents, SLA targets, and a
few tickets raised through the service so they have tracking numbers, clocks and timelines."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from kernel.settings import Settings

MON_SAT = {d: [["10:00", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
SUN_THU = {d: [["09:00", "17:00"]] for d in ("sun", "mon", "tue", "wed", "thu")}
Holidays = list[tuple[date, str, str]]
# name -> (time zone, hours, off-Saturdays, parent calendar, holidays)
CALENDARS: dict[str, tuple[str, dict[str, list[list[str]]], list[int], str | None, Holidays]] = {
    "India national": ("Asia/Kolkata", MON_SAT, [2, 4], None, [
        (date(2027, 1, 26), "Republic Day", "national"), (date(2027, 8, 15), "Independence Day", "national"),
        (date(2027, 10, 2), "Gandhi Jayanti", "national"), (date(2026, 12, 25), "Christmas", "national")]),
    "Madhya Pradesh": ("Asia/Kolkata", MON_SAT, [2, 4], "India national", [
        (date(2026, 11, 1), "Madhya Pradesh Foundation Day", "state"), (date(2027, 3, 4), "Holi", "state")]),
    "Bangladesh national": ("Asia/Dhaka", SUN_THU, [], None, [
        (date(2026, 12, 16), "Victory Day", "national"), (date(2027, 2, 21), "Shaheed Dibosh", "national"),
        (date(2027, 3, 26), "Independence Day", "national")]),
}
# (name, area, calendar, agent subject)
DESKS = [
    ("Madhya Pradesh state help desk", "IN-23", "Madhya Pradesh", "mp-state-agent"),
    ("Panna district help desk", "IN-23-0456", "Madhya Pradesh", "panna-district-agent"),
    ("Panna block help desk", "IN-23-0456-2210", "Madhya Pradesh", "panna-block-agent"),
    ("Bhopal district help desk", "IN-23-0437", "Madhya Pradesh", "bhopal-district-agent"),
    ("Phanda block help desk", "IN-23-0437-3561", "Madhya Pradesh", "phanda-block-agent"),
    ("Khulna division help desk", "BD-40", "Bangladesh national", "khulna-division-agent"),
    ("Satkhira district help desk", "BD-40-87", "Bangladesh national", "satkhira-district-agent"),
    ("Tala upazila help desk", "BD-40-87-90", "Bangladesh national", "tala-upazila-agent"),
]
# (level, category, first response, resolution) in business minutes; 21 working days for grievances (CPGRAMS).
POLICIES = [("block", "*", 240, 1440), ("district", "*", 480, 2880), ("state", "*", 960, 5760),
            ("block", "grievance", 480, 21 * 450), ("upazila", "*", 240, 1440), ("division", "*", 960, 5760)]
TICKETS = [
    ("demo:1", "app_problem", "IN-23-0456-2210-123456-654321", "hi", "Poshan Tracker does not sync",
     "Growth measurements entered on Monday do not appear on the dashboard.", "Sunita Devi", "self"),
    ("demo:2", "grievance", "IN-23-0437-3561-123001-482001", "hi", "Ration card not updated after marriage",
     "Raised at the village digital centre by the e-volunteer on the citizen's behalf.", "Ramesh Kumar", "citizen"),
    ("demo:3", "service_request", "BD-40-87-90-54-08", "bn", "Birth registration certificate correction",
     "The child's name is misspelt on the certificate.", "Rahima Begum", "citizen"),
]


async def load_demo(settings: Settings) -> dict[str, int]:
    """Create what does not exist yet (idempotent), in one transaction; returns the counts created."""
    from kernel.db import make_engine, make_sessionmaker, transaction

    assert settings.database_url, "load_demo needs a database URL"
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await _load(session, datetime.now(timezone.utc))
    finally:
        await engine.dispose()


async def _calendars(session: AsyncSession, counts: dict[str, int], now: datetime) -> dict[str, Any]:
    from services.registry.demo.areas import DEMO_IDENTITY
    from services.tickets.repository.desks import CalendarRepository
    from services.tickets.schemas.desks import CalendarIn, HolidayIn
    from services.tickets.service import desks

    ids: dict[str, Any] = {}
    for name, (tz, hours, saturdays, parent, holidays) in CALENDARS.items():
        row = await CalendarRepository(session).by_name(name)
        if row is None:
            row = await desks.create_calendar(session, DEMO_IDENTITY, CalendarIn.model_validate({
                "name": name, "timezone": tz, "working_hours": hours, "saturdays_off": saturdays,
                "parent_id": ids.get(parent or "")}))
            for day, label, kind in holidays:
                await desks.add_holiday(session, DEMO_IDENTITY, row["id"], HolidayIn(day=day, name=label, kind=kind),
                                        now)
            counts["calendars"] += 1
        ids[name] = row["id"]
    return ids


async def _load(session: AsyncSession, now: datetime) -> dict[str, int]:
    from services.registry.demo.areas import DEMO_IDENTITY
    from services.tickets.repository.desks import DeskRepository
    from services.tickets.repository.tickets import TicketRepository
    from services.tickets.schemas.desks import AgentIn, DeskIn, SlaPolicyIn
    from services.tickets.schemas.tickets import Reporter, TicketIn
    from services.tickets.service import desks, tickets

    counts = {"calendars": 0, "desks": 0, "tickets": 0}
    calendar_ids = await _calendars(session, counts, now)
    for name, area, calendar, agent in DESKS:
        desk = await DeskRepository(session).by_name(name, area)
        if desk is None:
            desk = await desks.create_desk(session, DEMO_IDENTITY, DeskIn(name=name, area_code=area,
                                                                          calendar_id=calendar_ids[calendar]), now)
            counts["desks"] += 1
        await desks.add_agent(session, DEMO_IDENTITY, desk["id"], AgentIn(subject=agent, display_name=agent))
    for level, category, first, resolution in POLICIES:
        await desks.put_policy(session, DEMO_IDENTITY, SlaPolicyIn(
            level=level, category=category, first_response_minutes=first, resolution_minutes=resolution), now)
    for ref, category, area, language, title, text, person, relation in TICKETS:
        if await TicketRepository(session).by_source_ref(ref) is None:
            body = TicketIn(category=category, title=title, description=text, language=language, area_code=area,
                            reporter=Reporter(name=person, phone="+919800000001", relation=relation),
                            channel="assisted" if relation == "citizen" else "app")
            await tickets.create_ticket(session, DEMO_IDENTITY, body, now, source_ref=ref)
            counts["tickets"] += 1
    return counts
