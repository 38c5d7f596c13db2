"""SLA clocks in business time and escalation block → district → state, on a controllable clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from kernel.scheduler import ManualClock, Scheduler
from services.tickets.service.sla.clocks import BREACH_JOB
from tests.tickets.conftest import (
    ADMIN,
    BLOCK_AGENT,
    DISTRICT_AGENT,
    IST,
    STATE_AGENT,
    Desks,
    worker,
)


def deadline(clocks: list[dict], level_seq: int, kind: str) -> datetime:
    clock = next(c for c in clocks if c["level_seq"] == level_seq and c["kind"] == kind)
    return datetime.fromisoformat(clock["deadline_at"])


async def sla(desks: Desks, ticket_id: str) -> list[dict]:
    r = await desks.client.get(f"/{ticket_id}/sla", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_business_hours_skip_the_weekend_and_a_holiday(desks: Desks) -> None:
    # Saturday 12 December 2026 is the second Saturday (off), Sunday is off, Monday 14th a state holiday.
    r = await desks.client.put(f"/calendars/{desks.calendar_id}/holidays",
                               json={"day": "2026-12-14", "name": "State foundation day", "kind": "state"},
                               headers=ADMIN)
    assert r.status_code == 200, r.text
    desks.clock.set(datetime(2026, 12, 11, 17, 30, tzinfo=IST))  # Friday 17:30, half an hour before closing
    ticket = await desks.raise_ticket()
    first = deadline(await sla(desks, ticket["id"]), 0, "first_response")
    # 30 minutes on Friday, then the next working day is Tuesday 15th: 30 more minutes from 10:00.
    assert first == datetime(2026, 12, 15, 10, 30, tzinfo=IST)
    desks.clock.set(datetime(2026, 12, 15, 10, 29, tzinfo=IST))
    assert await desks.run_due() == 0
    desks.clock.set(datetime(2026, 12, 15, 10, 30, tzinfo=IST))
    assert await desks.run_due() == 1
    assert (await desks.get(ticket["id"]))["level"] == "district"


async def test_a_holiday_declared_later_moves_running_deadlines_and_their_jobs(desks: Desks) -> None:
    desks.clock.set(datetime(2026, 12, 11, 17, 30, tzinfo=IST))  # Friday 17:30
    ticket = await desks.raise_ticket()
    assert deadline(await sla(desks, ticket["id"]), 0, "first_response") == datetime(2026, 12, 14, 10, 30, tzinfo=IST)
    r = await desks.client.put(f"/calendars/{desks.calendar_id}/holidays",
                               json={"day": "2026-12-14", "name": "Declared holiday", "kind": "state"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert deadline(await sla(desks, ticket["id"]), 0, "first_response") == datetime(2026, 12, 15, 10, 30, tzinfo=IST)
    desks.clock.set(datetime(2026, 12, 14, 10, 31, tzinfo=IST))
    assert await desks.run_due() == 0  # the job moved with the deadline
    assert (await desks.get(ticket["id"]))["level"] == "block"


async def test_waiting_on_the_reporter_pauses_the_clock(desks: Desks) -> None:
    ticket = await desks.raise_ticket()  # Monday 11:00; block resolution target 240 business minutes
    await desks.client.post(f"/{ticket['id']}/assignment", json={"agent": "block-agent"}, headers=BLOCK_AGENT)
    await desks.advance(timedelta(minutes=30))
    r = await desks.act(ticket["id"], "wait_on_reporter", BLOCK_AGENT, note="Send a photo of the error")
    assert r.status_code == 200, r.text
    clocks = await sla(desks, ticket["id"])
    resolution = next(c for c in clocks if c["kind"] == "resolution")
    assert resolution["paused"] and resolution["deadline_at"] is None and resolution["elapsed_seconds"] == 1800
    assert await desks.advance(timedelta(days=3)) == 0  # nothing breaches while paused
    r = await desks.client.post(f"/{ticket['id']}/comments", json={"body": "photo attached"}, headers=worker())
    assert r.status_code == 200 and r.json()["status"] == "in_progress"  # the reporter's answer resumes the clocks
    # Thursday 11:30 + 210 business minutes left = 15:00 the same day.
    assert deadline(await sla(desks, ticket["id"]), 0, "resolution") == datetime(2026, 12, 10, 15, 0, tzinfo=IST)
    assert (await desks.get(ticket["id"]))["level"] == "block"


async def test_breach_at_each_level_up_to_the_state(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    levels = []
    for _ in range(3):
        clocks = await sla(desks, ticket["id"])
        level_seq = max(c["level_seq"] for c in clocks)
        desks.clock.set(deadline(clocks, level_seq, "first_response"))
        assert await desks.run_due() == 1
        levels.append((await desks.get(ticket["id"]))["level"])
    assert levels == ["district", "state", "state"]  # the state desk breaches too, with nowhere higher
    final = await desks.get(ticket["id"])
    assert final["status"] == "escalated" and final["level_seq"] == 2
    clocks = await sla(desks, ticket["id"])
    assert [c["breached"] for c in clocks if c["kind"] == "first_response"] == [True, True, True]
    subjects = await desks.outbox_subjects()
    assert subjects.count("tickets.ticket.escalated.v1") == 2
    timeline = (await desks.client.get(f"/{ticket['id']}/timeline", headers=ADMIN)).json()["items"]
    escalations = [e for e in timeline if e["kind"] == "escalated"]
    assert [e["data"]["cause"] for e in escalations] == ["first_response_breach"] * 2
    assert [e["kind"] for e in timeline].count("sla_breached") == 3


async def test_manual_escalation_with_a_reason_and_its_trail(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    await desks.client.post(f"/{ticket['id']}/comments", json={"body": "Reinstalled the app",
                                                                        "visibility": "internal"}, headers=BLOCK_AGENT)
    r = await desks.client.post(f"/{ticket['id']}/escalations", json={"reason": "Needs a server-side fix"},
                                headers=BLOCK_AGENT)
    assert r.status_code == 200 and r.json()["level"] == "district" and r.json()["assigned_to"] is None
    async with desks.client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        row = (await session.execute(text("SELECT cause, reason, trail FROM tickets.escalation"))).one()
    assert row.cause == "manual" and row.reason == "Needs a server-side fix"
    assert [t["kind"] for t in row.trail] == ["created", "comment"] and row.trail[1]["body"] == "Reinstalled the app"
    # The block agent no longer sees it; the district agent does and escalates again; the state cannot.
    assert (await desks.client.get(f"/{ticket['id']}", headers=BLOCK_AGENT)).status_code == 404
    r = await desks.client.post(f"/{ticket['id']}/escalations", json={"reason": "State app team"},
                                headers=DISTRICT_AGENT)
    assert r.status_code == 200 and r.json()["level"] == "state"
    r = await desks.client.post(f"/{ticket['id']}/escalations", json={"reason": "higher?"},
                                headers=STATE_AGENT)
    assert r.status_code == 409 and r.json()["type"].endswith("/no-higher-level")


async def test_poor_rating_reopens_and_escalates(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    tid = ticket["id"]
    await desks.client.post(f"/{tid}/assignment", json={"agent": "block-agent"}, headers=BLOCK_AGENT)
    assert (await desks.act(tid, "resolve", BLOCK_AGENT, note="Cleared the cache")).status_code == 200
    r = await desks.client.post(f"/{tid}/rating", json={"rating": "poor", "comment": "Still broken"},
                                headers=worker())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "escalated" and r.json()["level"] == "district" and r.json()["rating"] == "poor"
    subjects = await desks.outbox_subjects()
    assert subjects[-3:] == ["tickets.ticket.resolved.v1", "tickets.ticket.reopened.v1", "tickets.ticket.escalated.v1"]
    # Both tell notify whom to text and in which language: the reporter's phone, the ticket's language.
    async with desks.client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        sent = (await session.execute(text(
            "SELECT payload->'data' FROM tickets.outbox WHERE subject IN "
            "('tickets.ticket.reopened.v1', 'tickets.ticket.escalated.v1') ORDER BY seq"))).scalars().all()
    assert [(d["notify_phone"], d["language"], d["cause"]) for d in sent] == [("+919876543210", "hi", "poor_rating")] * 2
    assert sent[1]["level_name"] == "ज़िला हेल्पडेस्क"  # the district desk, named in the reporter's Hindi
    # One text for the rating: the reopen says it escalated and names no one to text; the escalation texts.
    assert (sent[0]["escalated"], sent[0]["text_phone"]) == (True, None)
    assert (await desks.client.post(f"/{tid}/rating", json={"rating": "good"},
                                    headers=worker())).status_code == 409


async def test_deadlines_follow_the_desk_time_zone(desks: Desks) -> None:
    dhaka = await _calendar(desks, "Bangladesh offices", "Asia/Dhaka", {d: [["09:00", "17:00"]]
                                                                       for d in ("sun", "mon", "tue", "wed", "thu")})
    r = await desks.client.post("/desks", json={"name": "Upazila desk", "area_code": "BD-40-87-90",
                                                "calendar_id": dhaka}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["level"] == "upazila"
    # Thursday 16:30 in Dhaka (10:30 UTC): 30 minutes left that day; Friday and Saturday are off.
    desks.clock.set(datetime(2026, 12, 10, 10, 30, tzinfo=ZoneInfo("UTC")))
    headers = worker("vol-1", "BD-40-87-90-54-08")
    ticket = await desks.raise_ticket(headers, area_code="BD-40-87-90-54-08", language="bn")
    r = await desks.client.get(f"/{ticket['id']}/sla", headers=ADMIN)
    first = datetime.fromisoformat(next(c for c in r.json() if c["kind"] == "first_response")["deadline_at"])
    # The default target (240 minutes): 30 on Thursday, 210 from Sunday 09:00 Dhaka = Sunday 12:30 Dhaka.
    assert first == datetime(2026, 12, 13, 12, 30, tzinfo=ZoneInfo("Asia/Dhaka"))


async def _calendar(desks: Desks, name: str, tz: str, hours: dict) -> str:
    r = await desks.client.post("/calendars", json={"name": name, "timezone": tz, "working_hours": hours,
                                                    "saturdays_off": []}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]


async def test_concurrent_workers_escalate_exactly_once(desks: Desks) -> None:
    runtime = desks.client.app.state.runtime  # type: ignore[attr-defined]
    tickets = [await desks.raise_ticket() for _ in range(5)]
    clock = ManualClock(desks.clock.now() + timedelta(minutes=61))  # past the block's first-response deadline
    workers = [Scheduler(service="tickets", schema="tickets", sessionmaker=runtime.sessionmaker,
                         handlers={BREACH_JOB: runtime.scheduler.handlers[BREACH_JOB]}, clock=clock, batch_size=2) for _ in range(4)]
    ran = await asyncio.gather(*(w.run_due() for w in workers), *(w.run_due() for w in workers))
    assert sum(ran) == 5
    async with runtime.sessionmaker() as session:
        per_ticket = (await session.execute(text(
            "SELECT ticket_id, count(*) FROM tickets.escalation GROUP BY ticket_id"))).all()
    assert sorted(n for _, n in per_ticket) == [1] * 5
    assert (await desks.outbox_subjects()).count("tickets.ticket.escalated.v1") == 5
    for t in tickets:
        assert (await desks.get(t["id"]))["level"] == "district"


async def test_a_breach_racing_a_manual_escalation_moves_the_ticket_once(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    clocks = await sla(desks, ticket["id"])
    desks.clock.set(deadline(clocks, 0, "first_response"))
    manual = desks.client.post(f"/{ticket['id']}/escalations", json={"reason": "by hand"},
                               headers=BLOCK_AGENT)
    results = await asyncio.gather(manual, desks.run_due())
    after = await desks.get(ticket["id"])
    assert after["level"] == "district" and after["level_seq"] == 1
    assert (await desks.outbox_subjects()).count("tickets.ticket.escalated.v1") == 1
    assert results[0].status_code in (200, 404)  # 404 if the breach moved it out of the block agent's sight first


async def test_resolving_in_time_cancels_the_deadline_jobs(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    await desks.client.post(f"/{ticket['id']}/assignment", json={"agent": "block-agent"}, headers=BLOCK_AGENT)
    await desks.act(ticket["id"], "resolve", BLOCK_AGENT)
    assert await desks.advance(timedelta(days=10)) >= 0
    after = await desks.get(ticket["id"])
    assert after["level"] == "block" and after["status"] == "resolved" and after["first_response_at"]
    async with desks.client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        jobs = (await session.execute(text(
            "SELECT count(*) FROM tickets.scheduled_job WHERE kind = 'tickets.sla_breach'"))).scalar_one()
    assert jobs == 0
    assert after["status_page"] == f"/tickets/track/{after['tracking_number']}"
