"""Event-driven sends: a ticket event on the bus becomes one SMS by a rule that is data."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timezone
from typing import Any

from contracts.base import Envelope
from contracts.benefits import EntryPosted
from contracts.marketplace import BookingAssigned, BookingCreated
from contracts.tickets import TicketCreated
from kernel.bus import ensure_streams
from services.notify.demo import rule_documents, template_documents
from tests.notify.conftest import Notify
from tests.notify.test_duelists import deliver, person


def ticket_created(key: str, phone: str | None = "+919845000001") -> TicketCreated:
    return TicketCreated(
        ticket_id=uuid.uuid4(), tracking_number="KX7D-M4RP", category="app_problem", area_code="IN-23-0456",
        desk_id=uuid.uuid4(), level="block", status="open", idempotency_key=key, priority="normal", language="hi",
        notify_phone=phone, raised_by="aww-1", status_page="/tickets/track/KX7D-M4RP", resolution_due_at=None)


async def publish_and_apply(notify: Notify, events: list[Any], consumer_name: str = "notify-rules-tickets") -> None:
    runtime = notify.app.state.runtime
    await ensure_streams(runtime.js, runtime.settings)
    for event in events:  # each a new envelope: the same business fact published twice, not a redelivery
        envelope = Envelope(type=event.subject, source=event.service(), data=event.model_dump(mode="json"))
        await runtime.js.publish(event.subject, envelope.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": str(envelope.id)})
    consumer = next(c for c in runtime.consumers if c.name == consumer_name)
    consumer._psub = None  # the stream may have been recreated by another test module
    applied, deadline = 0, asyncio.get_running_loop().time() + 90
    while applied < len(events):
        applied += await consumer.poll(timeout=1.0)
        assert asyncio.get_running_loop().time() < deadline, f"only {applied} of {len(events)} events arrived"


async def test_ticket_created_event_sends_one_sms_by_rule(notify: Notify) -> None:
    for doc in template_documents():
        assert (await notify.client.post("/templates", headers=notify.headers, json=doc)).status_code == 201
    for rule in rule_documents():
        r = await notify.client.put("/rules", headers=notify.headers, json=rule)
        assert r.status_code == 200, r.text
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


async def test_booking_and_benefit_events_send_by_the_demo_rules(notify: Notify) -> None:
    for doc in template_documents():
        assert (await notify.client.post("/templates", headers=notify.headers, json=doc)).status_code == 201
    for rule in rule_documents():
        assert (await notify.client.put("/rules", headers=notify.headers, json=rule)).status_code == 200
    booking = uuid.uuid4()
    slot = datetime(2026, 12, 8, 5, 0, tzinfo=timezone.utc)
    created = BookingCreated(booking_id=booking, channel="app", category_code="plumbing", job_code="plumbing.tap",
                             area_code="IN-23-0437-3561-123001-482001", slot_start=slot, price_minor=15000,
                             visit_charge_minor=0, currency="INR", customer_phone="+919812345678", assisted=False)
    assigned = BookingAssigned(booking_id=booking, worker_id=uuid.uuid4(), vendor_id=uuid.uuid4(),
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
    assert set(by_key) == {f"rule:booking-created-sms:{booking}", f"rule:booking-assigned-sms:{booking}",
                           f"rule:benefit-posted-sms:{entry.entry_id}"}
    assert "plumbing.tap" in by_key[f"rule:booking-created-sms:{booking}"]["body"]
    assert by_key[f"rule:booking-created-sms:{booking}"]["language"] == "hi"  # India's default: no language field
    assert "Ramesh Kumar" in by_key[f"rule:booking-assigned-sms:{booking}"]["body"]
    benefit = by_key[f"rule:benefit-posted-sms:{entry.entry_id}"]
    assert benefit["language"] == "bn" and benefit["to_masked"].endswith("9999") and "MDM" in benefit["body"]
