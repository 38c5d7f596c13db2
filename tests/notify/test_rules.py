"""Event-driven sends: a ticket event on the bus becomes one SMS by a rule that is data."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

from contracts.base import Envelope
from contracts.tickets import TicketCreated
from kernel.bus import ensure_streams
from services.notify.demo import rule_documents, template_documents
from tests.notify.conftest import Notify


def ticket_created(key: str, phone: str | None = "+919845000001") -> TicketCreated:
    return TicketCreated(
        ticket_id=uuid.uuid4(), tracking_number="KX7D-M4RP", category="app_problem", area_code="IN-23-0456",
        desk_id=uuid.uuid4(), level="block", status="open", idempotency_key=key, priority="normal", language="hi",
        notify_phone=phone, raised_by="aww-1", status_page="/tickets/track/KX7D-M4RP", resolution_due_at=None)


async def publish_and_apply(notify: Notify, events: list[TicketCreated]) -> None:
    runtime = notify.app.state.runtime
    await ensure_streams(runtime.js, runtime.settings)
    for event in events:  # each a new envelope: the same business fact published twice, not a redelivery
        envelope = Envelope(type=event.subject, source="tickets", data=event.model_dump(mode="json"))
        await runtime.js.publish(event.subject, envelope.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": str(envelope.id)})
    consumer = next(c for c in runtime.consumers if c.name == "notify-rules-tickets")
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
    assert [r["name"] for r in listed["items"]] == ["ticket-created-sms", "ticket-resolved-sms"]
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
