"""Event-driven sends: a ticket event on the bus becomes one SMS by a rule that is data."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import text as sa_text

from contracts.base import Envelope
from contracts.benefits import EntryPosted
from contracts.marketplace import BookingAssigned, BookingCancelled, BookingCompleted, BookingCreated
from contracts.tickets import TicketCreated, TicketEscalated, TicketReopened
from kernel.bus import ensure_streams
from kernel.scheduler import ManualClock
from kernel.settings import Settings
from services.notify.demo import rule_documents, template_documents
from services.notify.schemas.rules import RuleCreate
from services.notify.service.rules import event_key
from tests.conftest import start_service
from tests.notify.conftest import Notify
from tests.notify.test_duelists import deliver, person


def ticket_created(key: str, phone: str | None = "+919845000001") -> TicketCreated:
    return TicketCreated(
        ticket_id=uuid.uuid4(), tracking_number="KX7D-M4RP", category="app_problem", area_code="IN-23-0456",
        desk_id=uuid.uuid4(), level="block", status="open", idempotency_key=key, priority="normal", language="hi",
        notify_phone=phone, raised_by="aww-1", status_page="/tickets/track/KX7D-M4RP", resolution_due_at=None)


async def publish_and_apply(notify: Notify, events: list[Any], consumer_name: str = "notify-rules-tickets") -> None:
    """Each event in a new envelope (the same business fact published twice is not a redelivery); an
    ``Envelope`` given as it is, under a new message id: the bus delivering the same event again."""
    runtime = notify.app.state.runtime
    await ensure_streams(runtime.js, runtime.settings)
    for event in events:
        envelope = event if isinstance(event, Envelope) else Envelope(
            type=event.subject, source=event.service(), data=event.model_dump(mode="json"))
        await runtime.js.publish(envelope.type, envelope.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": str(uuid.uuid4())})
    consumer = next(c for c in runtime.consumers if c.name == consumer_name)
    consumer._psub = None  # the stream may have been recreated by another test module
    applied, deadline = 0, asyncio.get_running_loop().time() + 90
    while applied < len(events):
        applied += await consumer.poll(timeout=1.0)
        assert asyncio.get_running_loop().time() < deadline, f"only {applied} of {len(events)} events arrived"


def envelope_of(event: Any) -> Envelope:
    return Envelope(type=event.subject, source=event.service(), data=event.model_dump(mode="json"))


async def load_demo_rules(notify: Notify) -> None:
    for doc in template_documents():
        assert (await notify.client.post("/templates", headers=notify.headers, json=doc)).status_code == 201
    for rule in rule_documents():
        r = await notify.client.put("/rules", headers=notify.headers, json=rule)
        assert r.status_code == 200, r.text


async def messages_by_key(notify: Notify) -> dict[str, dict[str, Any]]:
    items = (await notify.client.get("/messages", headers=notify.headers, params={"limit": 100})).json()["items"]
    by_key = {m["idempotency_key"]: m for m in items}
    assert len(by_key) == len(items)
    return by_key


async def dispatch_all(notify: Notify, queued: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Send what was queued (past any quiet hours it waits out) and return what reached the provider."""
    latest = max(datetime.fromisoformat(m["not_before"]) for m in queued.values())
    notify.clock.set(max(latest, datetime.now(timezone.utc)))
    while await notify.dispatcher.dispatch_once():
        pass
    return await notify.records()


def assert_segments(message: dict[str, Any]) -> None:
    """English fits one GSM-7 SMS; Hindi and Bengali are UCS-2, 67 characters a part once past 70."""
    units = len(message["body"].encode("utf-16-le")) // 2
    if message["language"] == "en":
        assert (message["encoding"], message["segments"]) == ("GSM-7", 1) and units <= 160
    else:
        assert message["encoding"] == "UCS-2" and message["segments"] == (1 if units <= 70 else -(-units // 67))


async def test_ticket_created_event_sends_one_sms_by_rule(notify: Notify) -> None:
    await load_demo_rules(notify)
    listed = (await notify.client.get("/rules", headers=notify.headers)).json()
    assert [r["name"] for r in listed["items"]] == sorted(r["name"] for r in rule_documents())
    key = f"ticket-created:{uuid.uuid4()}"
    await publish_and_apply(notify, [ticket_created(key), ticket_created(key), ticket_created("other", phone=None)])
    messages = (await notify.client.get("/messages", headers=notify.headers)).json()["items"]
    assert len(messages) == 1
    sms = messages[0]
    assert sms["source"] == "rule" and sms["idempotency_key"] == f"rule:ticket-created-sms:{key}"
    assert sms["language"] == "hi" and "KX7D-M4RP" in sms["body"]
    notify.clock.set(datetime.now(timezone.utc))  # the consumer queued it by the wall clock
    await notify.dispatcher.dispatch_once()
    at_provider = [r for r in await notify.records() if r["to"] == "+919845000001"]
    assert len(at_provider) == 1 and "KX7D-M4RP" in at_provider[0]["body"]


def ticket_event_fields(ticket: uuid.UUID, level: str, key: str) -> dict[str, Any]:
    return {"ticket_id": ticket, "tracking_number": "BN4P-7TQA", "category": "app_problem",
            "area_code": "BD-40-87-90-54-08", "desk_id": uuid.uuid4(), "level": level, "status": "escalated",
            "idempotency_key": key}


async def test_escalation_and_reopen_each_text_the_reporter_once(notify: Notify) -> None:
    await load_demo_rules(notify)
    ticket, reporter = uuid.uuid4(), "+8801712000001"
    escalated = [TicketEscalated(
        **ticket_event_fields(ticket, to_level, f"tickets:{ticket}:escalated:{seq}"), from_desk_id=uuid.uuid4(),
        from_level=from_level, cause="resolution_breach", reason=None, language="bn", notify_phone=reporter,
        resolution_due_at=None, level_name=name) for seq, (from_level, to_level, name) in enumerate(
            [("upazila", "district", "জেলা হেল্পডেস্ক"), ("district", "division", "বিভাগ হেল্পডেস্ক")])]
    reopened = TicketReopened(**ticket_event_fields(ticket, "division", f"tickets:{ticket}:reopened:7")
                              | {"status": "reopened"}, cause="reopened", language="en", notify_phone=reporter,
                              text_phone=reporter)
    first, reopen = envelope_of(escalated[0]), envelope_of(reopened)
    # A reopen published before the event said whom to text about it (v1 as it was) has no one to text.
    older = Envelope(type=TicketReopened.subject, source="tickets", data=reopened.model_dump(
        mode="json", exclude={"language", "notify_phone", "text_phone"})
        | {"idempotency_key": f"tickets:{ticket}:reopened:3"})
    await publish_and_apply(notify, [first, reopen, older, escalated[1]])
    queued = await messages_by_key(notify)
    assert set(queued) == {f"rule:ticket-escalated-sms:tickets:{ticket}:escalated:0",
                           f"rule:ticket-escalated-sms:tickets:{ticket}:escalated:1",
                           f"rule:ticket-reopened-sms:tickets:{ticket}:reopened:7"}
    to_district, to_division = (queued[f"rule:ticket-escalated-sms:tickets:{ticket}:escalated:{n}"] for n in (0, 1))
    assert to_district["language"] == "bn" and "BN4P-7TQA" in to_district["body"]
    assert to_district["body"] == ("গ্রামসেতু: আপনার অভিযোগ BN4P-7TQA এখন জেলা হেল্পডেস্ক-এ পাঠানো হয়েছে, "
                                   "সেখানেই এর সমাধান হবে।")
    assert "বিভাগ হেল্পডেস্ক" in to_division["body"]
    back = queued[f"rule:ticket-reopened-sms:tickets:{ticket}:reopened:7"]
    assert back["language"] == "en" and back["body"] == (
        "GramSetu: your complaint BN4P-7TQA has been reopened. The help desk is working on it again.")
    for message in queued.values():
        assert message["to_masked"].endswith("0001") and message["source"] == "rule"
        assert_segments(message)
    # The bus delivers the same events again, and the same facts come again in new envelopes: nothing more.
    await publish_and_apply(notify, [first, reopen, escalated[0], reopened])
    assert set(await messages_by_key(notify)) == set(queued)
    sent = await dispatch_all(notify, queued)
    assert sorted(r["body"] for r in sent) == sorted(m["body"] for m in queued.values())
    assert {r["to"] for r in sent} == {reporter}


async def tickets_outbox(tickets: httpx.AsyncClient) -> list[Envelope]:
    """The events the tickets service wrote, as its relay would publish them."""
    runtime = tickets.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(sa_text("SELECT payload FROM tickets.outbox ORDER BY seq"))).scalars().all()
    return [Envelope.model_validate(row) for row in rows]


async def resolve_then(desks: Any, tid: str, agent: tuple[str, dict[str, str]], then: str) -> None:
    """An agent of the ticket's desk takes it and resolves it; the reporter then rates it poor or reopens it."""
    from tests.tickets.conftest import worker

    subject, headers = agent
    r = await desks.client.post(f"/{tid}/assignment", json={"agent": subject}, headers=headers)
    assert r.status_code == 200, r.text
    assert (await desks.act(tid, "resolve", headers, note="Cleared the cache")).status_code == 200
    r = (await desks.client.post(f"/{tid}/rating", json={"rating": "poor"}, headers=worker()) if then == "poor"
         else await desks.act(tid, "reopen", worker()))
    assert r.status_code == 200, r.text


async def test_a_poor_rating_texts_the_reporter_once(notify: Notify, clean: None, settings: Settings) -> None:
    """The tickets service's own events, through NATS to notify's rules: a poor rating both reopens and
    escalates, and the reporter gets one text for it (the escalation's); a plain reopen, a plain escalation
    and a poor rating at the top level (which only reopens) each still text once."""
    from services.tickets.app import create_app
    from tests.tickets.conftest import (
        BLOCK_AGENT,
        DISTRICT_AGENT,
        MONDAY_11,
        STATE_AGENT,
        setup_desks,
    )

    await load_demo_rules(notify)
    clock = ManualClock(MONDAY_11)
    async for tickets in start_service(create_app, settings, clock=clock, workers=False):
        tickets.clock = clock  # type: ignore[attr-defined]
        desks = await setup_desks(tickets)
        phones = {story: f"+9198450001{n:02d}" for n, story in enumerate(("poor", "reopen", "escalate", "top"))}
        ids = {story: (await desks.raise_ticket(reporter={"name": "Sunita Devi", "phone": phone}))["id"]
               for story, phone in phones.items()}

        await resolve_then(desks, ids["poor"], ("block-agent", BLOCK_AGENT), "poor")
        await resolve_then(desks, ids["reopen"], ("block-agent", BLOCK_AGENT), "reopen")
        for agent in (BLOCK_AGENT, DISTRICT_AGENT):  # "top" goes up to the state desk, "escalate" once
            for story in ("escalate", "top") if agent is BLOCK_AGENT else ("top",):
                r = await tickets.post(f"/{ids[story]}/escalations", json={"reason": "Needs the app team"},
                                       headers=agent)
                assert r.status_code == 200, r.text
        await resolve_then(desks, ids["top"], ("state-agent", STATE_AGENT), "poor")
        events = await tickets_outbox(tickets)

    # The relay's publication, the bus delivering each again, and the same facts in new envelopes.
    await publish_and_apply(notify, events)
    queued = await messages_by_key(notify)
    await publish_and_apply(notify, events + [envelope_of_data(e) for e in events])
    assert set(await messages_by_key(notify)) == set(queued)

    def texts(story: str) -> list[str]:
        return sorted(key.split(":")[1] for key in queued if f":tickets:{ids[story]}:" in key)

    assert texts("poor") == ["ticket-created-sms", "ticket-escalated-sms", "ticket-resolved-sms"]
    assert texts("reopen") == ["ticket-created-sms", "ticket-reopened-sms", "ticket-resolved-sms"]
    assert texts("escalate") == ["ticket-created-sms", "ticket-escalated-sms"]
    assert texts("top") == ["ticket-created-sms", "ticket-escalated-sms", "ticket-escalated-sms",
                            "ticket-reopened-sms", "ticket-resolved-sms"]
    # The poor rating's one text says which desk has the complaint now, in the reporter's Hindi.
    poor = next(m for key, m in queued.items() if key.startswith(f"rule:ticket-escalated-sms:tickets:{ids['poor']}:"))
    assert "ज़िला हेल्पडेस्क" in poor["body"] and poor["to_masked"].endswith(phones["poor"][-4:])
    sent = await dispatch_all(notify, queued)
    assert sorted(r["to"] for r in sent) == sorted([phones["poor"]] * 3 + [phones["reopen"]] * 3
                                                   + [phones["escalate"]] * 2 + [phones["top"]] * 5)


def envelope_of_data(envelope: Envelope) -> Envelope:
    """The same business fact published again: a new envelope (new id) around the same data."""
    return Envelope(type=envelope.type, source=envelope.source, data=envelope.data)


async def test_booking_and_benefit_events_send_by_the_demo_rules(notify: Notify) -> None:
    await load_demo_rules(notify)
    booking, worker = uuid.uuid4(), uuid.uuid4()
    slot = datetime(2026, 12, 8, 5, 0, tzinfo=timezone.utc)
    created = BookingCreated(booking_id=booking, channel="app", category_code="plumbing", job_code="plumbing.tap",
                             area_code="IN-23-0437-3561-123001-482001", slot_start=slot, price_minor=15000,
                             visit_charge_minor=0, currency="INR", customer_phone="+919812345678", assisted=False)
    assigned = BookingAssigned(booking_id=booking, worker_id=worker, vendor_id=uuid.uuid4(),
                               worker_name="Ramesh Kumar", worker_phone="+919800000201",
                               customer_phone="+919812345678", area_code="IN-23-0437-3561-123001-482001",
                               address="Khajuri Sadak", slot_start=slot)
    await publish_and_apply(notify, [created, created, assigned], "notify-rules-marketplace")
    mother = person(date(1995, 3, 1), phones=["+919812349999"], language="bn", area="BD-40-87-90-54-08")
    await deliver(notify, [mother])
    entry = EntryPosted(entry_id=uuid.uuid4(), partition="mdm:2026-11", seq=1, scheme_code="MDM", department_code="edu",
                        person_id=mother.person_id, household_id=None, area_code=mother.area_code, period="2026-11",
                        amount_minor=None, currency=None, quantity=12, unit="kg", rule_version=1, decision="accepted",
                        delivered_on=date(2026, 11, 30), channel="ration_shop")
    unknown = entry.model_copy(update={"entry_id": uuid.uuid4(), "person_id": None})
    await publish_and_apply(notify, [entry, unknown], "notify-rules-benefits")
    messages = (await notify.client.get("/messages", headers=notify.headers)).json()["items"]
    by_key = {m["idempotency_key"]: m for m in messages}
    assert set(by_key) == {f"rule:booking-created-sms:{booking}", f"rule:booking-assigned-sms:{booking}:{worker}",
                           f"rule:booking-assigned-worker-sms:{booking}:{worker}",
                           f"rule:benefit-posted-sms:{entry.entry_id}"}
    assert "plumbing.tap" in by_key[f"rule:booking-created-sms:{booking}"]["body"]
    assert by_key[f"rule:booking-created-sms:{booking}"]["language"] == "hi"  # India's default: no language field
    assert "Ramesh Kumar" in by_key[f"rule:booking-assigned-sms:{booking}:{worker}"]["body"]
    to_worker = by_key[f"rule:booking-assigned-worker-sms:{booking}:{worker}"]
    assert to_worker["to_masked"].endswith("0201") and "Khajuri Sadak" in to_worker["body"]
    benefit = by_key[f"rule:benefit-posted-sms:{entry.entry_id}"]
    assert benefit["language"] == "bn" and benefit["to_masked"].endswith("9999") and "MDM" in benefit["body"]


async def test_the_worker_is_told_and_the_customer_hears_of_completion_and_cancellation(notify: Notify) -> None:
    await load_demo_rules(notify)
    area, customer, slot = "BD-40-87-90-54-08", "+8801812345678", datetime(2026, 12, 8, 5, 0, tzinfo=timezone.utc)
    done, dropped = uuid.uuid4(), uuid.uuid4()
    first, second = (uuid.uuid4(), "+8801700000201"), (uuid.uuid4(), "+8801700000202")

    def assigned(booking: uuid.UUID, worker: tuple[uuid.UUID, str]) -> BookingAssigned:
        return BookingAssigned(booking_id=booking, worker_id=worker[0], vendor_id=uuid.uuid4(), worker_name="Rahim",
                               worker_phone=worker[1], customer_phone=customer, area_code=area,
                               address="Bazar Road, ward 8", slot_start=slot)

    # ``dropped``: the first worker withdraws before leaving, the second takes it, then the customer cancels.
    events = [assigned(done, first), assigned(dropped, first), assigned(dropped, second),
              BookingCompleted(booking_id=done, worker_id=first[0], vendor_id=uuid.uuid4(), category_code="plumbing",
                               area_code=area, amount_minor=40000, currency="BDT", customer_phone=customer,
                               completed_at=slot),
              BookingCancelled(booking_id=dropped, cancelled_by="customer", status_before="assigned",
                               reason="Fixed it myself", fee_minor=0, currency="BDT", worker_id=second[0],
                               customer_phone=customer, area_code=area)]
    envelopes = [envelope_of(e) for e in events]
    await publish_and_apply(notify, envelopes, "notify-rules-marketplace")
    queued = await messages_by_key(notify)
    worker_keys = {f"rule:booking-assigned-worker-sms:{b}:{w[0]}": w[1] for b, w in
                   [(done, first), (dropped, first), (dropped, second)]}
    assert set(queued) == set(worker_keys) | {f"rule:booking-assigned-sms:{b}:{w[0]}" for b, w in
                                              [(done, first), (dropped, first), (dropped, second)]} | {
        f"rule:booking-completed-sms:{done}", f"rule:booking-cancelled-sms:{dropped}"}
    for key, phone in worker_keys.items():
        assert queued[key]["to_masked"].endswith(phone[-4:]) and "Bazar Road, ward 8" in queued[key]["body"]
    completed, cancelled = queued[f"rule:booking-completed-sms:{done}"], queued[f"rule:booking-cancelled-sms:{dropped}"]
    assert completed["to_masked"].endswith("5678") and cancelled["to_masked"].endswith("5678")
    assert "plumbing" in completed["body"] and "1800-180-0000" in cancelled["body"]
    for message in queued.values():
        assert message["language"] == "bn"  # Bangladesh's default: marketplace events carry no language
        assert_segments(message)
    # Every event delivered again by the bus, and each fact again in a new envelope: no second message.
    await publish_and_apply(notify, envelopes + events, "notify-rules-marketplace")
    assert set(await messages_by_key(notify)) == set(queued)
    sent = await dispatch_all(notify, queued)
    assert sorted(r["to"] for r in sent) == sorted([*worker_keys.values()] + [customer] * 5)


FIELD = st.from_regex(r"[a-z_][a-z0-9_]{0,9}", fullmatch=True)


@given(fields=st.lists(FIELD, min_size=1, max_size=4, unique=True),
       values=st.lists(st.one_of(st.none(), st.just(""), st.uuids().map(str)), min_size=4, max_size=4))
def test_a_key_of_several_fields_names_the_fact_only_when_every_field_is_there(
        fields: list[str], values: list[str | None]) -> None:
    rule = RuleCreate(name="booking-assigned-worker-sms", subject="marketplace.booking.assigned.v1",
                      template_key="booking_job_assigned", phone_field="worker_phone", key_field="+".join(fields))
    data = {f: v for f, v in zip(fields, values, strict=False) if v is not None}
    key = event_key(data, rule.key_field)
    if all(data.get(f) for f in fields):
        assert key == ":".join(str(data[f]) for f in fields)
    else:
        assert key is None  # the envelope's id stands in: never a key made of the parts that are there


@pytest.mark.parametrize("bad", ["booking_id+", "+worker_id", "booking_id++worker_id", "Booking_id",
                                 "a+b+c+d+e", "booking_id worker_id"])
def test_a_malformed_key_field_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RuleCreate(name="x-sms", subject="tickets.ticket.created.v1", template_key="ticket_created",
                   phone_field="notify_phone", key_field=bad)
    assert refused.value.errors()[0]["loc"] == ("key_field",)
