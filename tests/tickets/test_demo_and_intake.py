"""Demo data loads once through the service, marketplace complaints become one ticket each, registry
deaths leave an internal note, and the gauges count what is open."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from kernel.settings import Settings
from services.tickets.schemas.tickets import Reporter
from tests.tickets.conftest import ADMIN, BLOCK_AGENT, VILLAGE, Desks, worker


async def test_demo_data_is_idempotent(tickets_client: httpx.AsyncClient, settings: Settings) -> None:
    from services.tickets.demo import load_demo

    first = await load_demo(settings)
    assert first == {"calendars": 3, "desks": 8, "tickets": 3}
    assert await load_demo(settings) == {"calendars": 0, "desks": 0, "tickets": 0}
    listed = (await tickets_client.get("/", headers=ADMIN)).json()
    assert listed["total"] == 3 and {t["level"] for t in listed["items"]} == {"block", "upazila"}


async def test_marketplace_complaint_becomes_one_ticket_and_a_death_leaves_a_note(desks: Desks) -> None:
    from services.tickets.service.intake import complaint_ticket, note_person_deceased

    runtime = desks.client.app.state.runtime  # type: ignore[attr-defined]
    person = uuid.uuid4()
    now = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
    for _ in range(2):  # a redelivered complaint adds nothing
        async with runtime.sessionmaker() as session, session.begin():
            row = await complaint_ticket(session, source="marketplace", complaint_id="c-42", area_code=VILLAGE,
                                         title="Plumber did not come", description="Booked for Tuesday.",
                                         reporter=Reporter(name="Asha"), language="hi", now=now)
    assert row["category"] == "marketplace_complaint" and row["channel"] == "marketplace"
    listed = (await desks.client.get("/", headers=ADMIN)).json()
    assert listed["total"] == 1
    ticket = await desks.raise_ticket(concerns_person_id=str(person))
    async with runtime.sessionmaker() as session, session.begin():
        assert await note_person_deceased(session, person, now) == 1
    timeline = (await desks.client.get(f"/{ticket['id']}/timeline", headers=BLOCK_AGENT)).json()["items"]
    assert timeline[-1]["body"] == "The registry records this person as deceased." and not timeline[-1]["public"]


async def test_a_marketplace_complaint_event_opens_one_ticket_through_the_subscription(desks: Desks) -> None:
    from contracts.base import Envelope
    from contracts.marketplace import ComplaintRaised
    from services.tickets.events import SUBSCRIPTIONS

    handler = next(s.handler for s in SUBSCRIPTIONS if s.subject == ComplaintRaised.subject)
    event = ComplaintRaised(complaint_id=uuid.uuid4(), booking_id=uuid.uuid4(), area_code=VILLAGE,
                            category="FULFILLMENT", description="The electrician never came", raised_by="cust-7",
                            channel="call_centre", customer_phone="+919811112222")
    envelope = Envelope(type=event.subject, source="marketplace", data=event.model_dump(mode="json"))
    runtime = desks.client.app.state.runtime  # type: ignore[attr-defined]
    for _ in range(2):  # redelivered
        async with runtime.sessionmaker() as session, session.begin():
            await handler(session, event, envelope)
    listed = (await desks.client.get("/", headers=BLOCK_AGENT)).json()
    assert listed["total"] == 1
    ticket = listed["items"][0]
    assert ticket["category"] == "marketplace_complaint" and ticket["desk_id"] == desks.ids["block"]
    assert ticket["reporter"]["phone"].endswith("222") and str(event.booking_id) in ticket["description"]
    assert (await desks.outbox_subjects()).count("tickets.ticket.created.v1") == 1


async def test_gauges_count_open_and_breached_by_level(desks: Desks) -> None:
    from services.tickets.service.gauges import refresh_gauges

    ticket = await desks.raise_ticket()
    runtime = desks.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessionmaker() as session:
        deadline = (await session.execute(text(
            "SELECT deadline_at FROM tickets.ticket_sla WHERE kind = 'first_response'"))).scalar_one()
        await refresh_gauges(session, deadline)
    labels = {"level": "block", "category": "app_problem"}
    assert REGISTRY.get_sample_value("gramsetu_tickets_open", labels) == 1
    assert REGISTRY.get_sample_value("gramsetu_tickets_breached", labels) == 1
    queue = (await desks.client.get(f"/desks/{desks.ids['block']}/queue", headers=BLOCK_AGENT)).json()
    assert queue["items"][0]["id"] == ticket["id"] and queue["items"][0]["business_seconds_left"] == 3600


async def test_open_gauge_follows_every_change_without_a_recount(desks: Desks) -> None:
    """Open counts come from deltas the database writes with each change, folded by the gauges job; after
    creations, an escalation, a resolution, a poor rating (reopen + escalate) and an auto-close they equal a
    full count of the table."""
    from services.tickets.service.gauges import refresh_gauges

    runtime = desks.client.app.state.runtime  # type: ignore[attr-defined]

    async def gauges() -> dict[tuple[str, str], float]:
        async with runtime.sessionmaker() as session, session.begin():
            await refresh_gauges(session, desks.clock.now())
        return {(s.labels["level"], s.labels["category"]): s.value for m in REGISTRY.collect()
                if m.name == "gramsetu_tickets_open" for s in m.samples if s.value}

    async def counted() -> dict[tuple[str, str], float]:
        async with runtime.sessionmaker() as session:
            rows = await session.execute(text(
                "SELECT level, category, count(*) FROM tickets.ticket WHERE status NOT IN ('resolved', 'closed') "
                "GROUP BY level, category"))
            return {(r[0], r[1]): float(r[2]) for r in rows}

    tickets = [await desks.raise_ticket() for _ in range(3)]
    await desks.raise_ticket(category="grievance")
    assert await gauges() == await counted() == {("block", "app_problem"): 3, ("block", "grievance"): 1}
    r = await desks.client.post(f"/{tickets[0]['id']}/escalations", json={"reason": "needs the district"}, headers=BLOCK_AGENT)
    assert r.status_code == 200, r.text
    await desks.client.post(f"/{tickets[1]['id']}/assignment", json={"agent": "block-agent"}, headers=BLOCK_AGENT)
    await desks.act(tickets[1]["id"], "resolve", BLOCK_AGENT)
    assert await gauges() == await counted() == {("block", "app_problem"): 1, ("district", "app_problem"): 1,
                                                 ("block", "grievance"): 1}
    await desks.client.post(f"/{tickets[1]['id']}/rating", json={"rating": "poor"}, headers=worker())
    assert await gauges() == await counted() == {("block", "app_problem"): 1, ("district", "app_problem"): 2,
                                                 ("block", "grievance"): 1}
    # Each sample carries the time of the refresh that counted it: a replica that did not run the job since
    # drops out of Prometheus queries instead of reporting an old count.
    from prometheus_client import generate_latest
    stamp = str(int(desks.clock.now().timestamp() * 1000))
    lines = [line for line in generate_latest().decode().splitlines() if line.startswith("gramsetu_tickets_open{")]
    assert lines and all(line.endswith(" " + stamp) for line in lines)
    assert REGISTRY.get_sample_value("gramsetu_tickets_gauges_refreshed_timestamp_seconds") == float(stamp) / 1000


async def _count(desks: Desks, sql: str) -> int:
    async with desks.client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        return int((await session.execute(text(sql))).scalar_one())


async def test_an_intake_batch_raises_every_ticket_once_even_when_sent_again(desks: Desks) -> None:
    base = {"category": "grievance", "title": "Ration not delivered", "description": "December ration missing",
            "area_code": VILLAGE, "reporter": {"name": "Rekha", "phone": "+919812300000", "relation": "citizen"}}
    batch = {"tickets": [base | {"client_ref": "form-1"}, base | {"client_ref": "form-2", "language": "en"},
                         base | {"title": "No receipt given"}]}
    r = await desks.client.post("/batches", json=batch, headers=worker())
    assert r.status_code == 201, r.text
    items = r.json()["items"]
    assert [i["client_ref"] for i in items] == ["form-1", "form-2", None]
    assert {i["level"] for i in items} == {"block"} and len({i["tracking_number"] for i in items}) == 3
    for item in items:  # each one whole: clocks, jobs, timeline, event
        ticket = await desks.get(item["id"])
        assert ticket["status"] == "new" and ticket["reporter"]["phone"].endswith("000")
        assert len((await desks.client.get(f"/{item['id']}/sla", headers=ADMIN)).json()) == 2
    assert await _count(desks, "SELECT count(*) FROM tickets.scheduled_job WHERE kind = 'tickets.sla_breach'") == 6
    assert await _count(desks, "SELECT count(*) FROM tickets.timeline WHERE kind = 'created'") == 3
    assert (await desks.outbox_subjects()).count("tickets.ticket.created.v1") == 3
    # Sent again (the centre's connection dropped before the answer): the referenced ones are not raised twice.
    again = await desks.client.post("/batches", json={"tickets": batch["tickets"][:2]}, headers=worker())
    assert again.status_code == 201 and [i["id"] for i in again.json()["items"]] == [i["id"] for i in items[:2]]
    assert await _count(desks, "SELECT count(*) FROM tickets.ticket") == 3
    assert (await desks.outbox_subjects()).count("tickets.ticket.created.v1") == 3
    # Another caller's form-1 is its own ticket.
    other = await desks.client.post("/batches", json={"tickets": batch["tickets"][:1]}, headers=worker("aww-2"))
    assert other.status_code == 201 and other.json()["items"][0]["id"] != items[0]["id"]


async def test_an_intake_batch_is_all_or_nothing_and_names_the_faulty_ticket(desks: Desks) -> None:
    good = {"category": "grievance", "title": "Ration not delivered", "description": "missing", "area_code": VILLAGE,
            "reporter": {"name": "Rekha"}}
    r = await desks.client.post("/batches", json={"tickets": [good, good | {"area_code": "IN-27-0456-2210"}]},
                                headers=worker(area="IN"))  # in scope, but no desk in that state
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tickets.1.area_code"
    r = await desks.client.post("/batches", json={"tickets": [good, good | {"title": ""}]}, headers=worker())
    assert r.status_code == 422 and "tickets.1.title" in r.text
    assert (await desks.client.post("/batches", json={"tickets": []}, headers=worker())).status_code == 422
    assert await _count(desks, "SELECT count(*) FROM tickets.ticket") == 0


async def test_a_taken_tracking_number_is_drawn_again_and_nothing_of_the_loser_is_written(
        desks: Desks, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.tickets.rules.tracking import new_tracking_number
    from services.tickets.service import tickets as service

    first = await desks.raise_ticket()
    fresh = new_tracking_number()
    draws = iter([first["tracking_number"], fresh])
    monkeypatch.setattr(service, "new_tracking_number", lambda: next(draws))
    second = await desks.raise_ticket()
    assert second["tracking_number"] == fresh
    assert await _count(desks, "SELECT count(*) FROM tickets.ticket_sla") == 4
    assert await _count(desks, "SELECT count(*) FROM tickets.timeline WHERE kind = 'created'") == 2
    subjects = await desks.outbox_subjects()
    assert subjects.count("tickets.ticket.created.v1") == 2
    async with desks.client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        numbers = (await session.execute(text(
            "SELECT payload->'data'->>'tracking_number' FROM tickets.outbox ORDER BY seq"))).scalars().all()
    assert numbers == [first["tracking_number"], fresh]
