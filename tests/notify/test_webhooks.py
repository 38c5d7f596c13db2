"""Webhooks for partner systems, against a real local HTTP receiver that checks every signature with the
reference Standard Webhooks library, fails when told to, and applies each webhook-id once."""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from contracts.base import Envelope
from contracts.tickets import TicketCreated, TicketResolved
from gramsetu.embedded import free_port
from kernel.bus import ensure_streams
from kernel.effects import effect_status
from services.notify.demo import template_documents
from services.notify.rules.webhooks import matches
from services.notify.service.webhooks import SimulatedCrash
from tests.conftest import identity_headers
from tests.notify.conftest import Notify

AREA = "IN-23-0456-2210-123456-654321"
PARTNER = identity_headers(subject="district-mis", kind="client", roles=["vendor"], scopes=["notify:webhooks"],
                           area_scope=["IN-23-0456"])


@dataclass
class Receiver:
    """A partner's endpoint: verifies, records, dedupes by webhook-id; ``fail`` answers instead of 2xx."""

    url: str
    clock: Any
    secrets: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: list[int] = field(default_factory=list)  # statuses to answer, one per request, before succeeding
    down: int | None = None  # answer this to every request

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        msg_id, stamp = headers.get("webhook-id", ""), int(headers.get("webhook-timestamp", "0"))
        given_sigs = headers.get("webhook-signature", "").split(" ")
        # The reference library's own signing over the raw bytes, and the timestamp against the sender's clock.
        valid = [s for s in self.secrets if any(hmac.compare_digest(
            Webhook(s).sign(msg_id, datetime.fromtimestamp(stamp, timezone.utc), body), g) for g in given_sigs)]
        fresh = abs(stamp - self.clock.now().timestamp()) <= 300
        self.requests.append({"id": msg_id, "body": body, "headers": headers, "valid": valid, "fresh": fresh})
        if not valid or not fresh:
            return web.Response(status=401)
        if self.down is not None:
            return web.Response(status=self.down)
        if self.fail:
            return web.Response(status=self.fail.pop(0))
        self.applied.setdefault(msg_id, json.loads(body))  # a repeat of a processed id is acknowledged, not applied
        return web.Response(status=204)


async def drain(notify: Notify) -> None:
    """Let the webhook consumer read what earlier tests left on the stream, before any subscription exists."""
    runtime = notify.app.state.runtime
    await ensure_streams(runtime.js, runtime.settings)
    consumer = next(c for c in runtime.consumers if c.name == "notify-webhooks-tickets")
    consumer._psub = None
    while await consumer.poll(timeout=0.3):
        pass


@pytest.fixture
async def receivers(notify: Notify) -> AsyncIterator[list[Receiver]]:
    await drain(notify)
    made: list[Receiver] = []
    runners: list[web.AppRunner] = []

    async def start() -> Receiver:
        port = free_port()
        receiver = Receiver(f"http://127.0.0.1:{port}/hooks", notify.clock)
        app = web.Application()
        app.router.add_post("/hooks", receiver.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        made.append(receiver)
        return receiver

    for _ in range(2):
        await start()
    yield made
    for runner in runners:
        await runner.cleanup()


async def subscribe(notify: Notify, receiver: Receiver, *, area: str = "IN-23-0456",
                    patterns: tuple[str, ...] = ("tickets.ticket.*.v1",), **extra: Any) -> dict[str, Any]:
    r = await notify.client.post("/webhooks/subscriptions", headers=PARTNER, json={
        "url": receiver.url, "description": "District MIS", "event_types": list(patterns), "area_code": area,
        **extra})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["owner"] == "district-mis"
    receiver.secrets.append(created["secret"])
    return created  # type: ignore[no-any-return]


def created(ticket: uuid.UUID, area: str = AREA) -> TicketCreated:
    return TicketCreated(
        ticket_id=ticket, tracking_number="KX7D-M4RP", category="app_problem", area_code=area, desk_id=uuid.uuid4(),
        level="block", status="open", idempotency_key=f"created:{ticket}", priority="normal", language="hi",
        notify_phone="+919845000001", raised_by="aww-1", status_page="/tickets/track/KX7D-M4RP",
        resolution_due_at=None)


def resolved(ticket: uuid.UUID, area: str = AREA) -> TicketResolved:
    return TicketResolved(ticket_id=ticket, tracking_number="KX7D-M4RP", category="app_problem", area_code=area,
                          desk_id=uuid.uuid4(), level="block", status="resolved", idempotency_key=f"resolved:{ticket}",
                          language="hi", notify_phone="+919845000001", resolution_seconds=3600.0)


async def publish(notify: Notify, envelopes: list[Envelope], *, msg_ids: list[str] | None = None) -> None:
    """Publish on JetStream and let notify's webhook consumer fan them out through its inbox."""
    runtime = notify.app.state.runtime
    await ensure_streams(runtime.js, runtime.settings)
    for i, envelope in enumerate(envelopes):
        await runtime.js.publish(envelope.type, envelope.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": msg_ids[i] if msg_ids else str(envelope.id)})
    consumer = next(c for c in runtime.consumers if c.name == "notify-webhooks-tickets")
    consumer._psub = None  # the stream may have been recreated by another test module
    fetched, deadline = 0, asyncio.get_running_loop().time() + 90
    while True:  # until ours have arrived and nothing else is waiting
        got = await consumer.poll(timeout=0.5)
        fetched += got
        if fetched >= len(envelopes) and got == 0:
            # Deliveries are due from their event's time; the test clock must not stand before it.
            notify.clock.set(max(notify.clock.now(), datetime.now(timezone.utc)))
            return
        assert asyncio.get_running_loop().time() < deadline, f"only {fetched} of {len(envelopes)} events arrived"


def envelope(event: Any) -> Envelope:
    return Envelope(type=event.subject, source="tickets", data=event.model_dump(mode="json"))


async def deliveries(notify: Notify, subscription: dict[str, Any], **params: str) -> list[dict[str, Any]]:
    r = await notify.client.get(f"/webhooks/subscriptions/{subscription['id']}/deliveries", headers=PARTNER,
                                params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def run_deliveries(notify: Notify) -> int:
    return await notify.app.state.webhooks.run_due()  # type: ignore[no-any-return]


async def test_signed_deliveries_arrive_in_order_per_ticket_filtered_by_type_and_area(
        notify: Notify, receivers: list[Receiver]) -> None:
    partner, other_area = receivers
    sub = await subscribe(notify, partner)
    assert (await notify.client.post("/webhooks/subscriptions", headers=identity_headers(
        subject="other", kind="client", roles=["vendor"], scopes=["notify:webhooks"], area_scope=["IN-24"]), json={
        "url": other_area.url, "description": "Elsewhere", "event_types": ["tickets.>"],
        "area_code": "IN-24"})).status_code == 201
    a, b = uuid.uuid4(), uuid.uuid4()
    first = envelope(created(a))
    await publish(notify, [first, envelope(resolved(a)), envelope(created(b)), envelope(created(uuid.uuid4(), "IN-29-0001")),
                           first], msg_ids=[str(first.id), "r1", "c2", "c3", "again"])  # the last: a redelivered event
    assert await run_deliveries(notify) >= 3
    assert other_area.requests == []
    got = [json.loads(r["body"]) for r in partner.requests]
    assert all(r["valid"] and r["fresh"] for r in partner.requests)
    by_ticket = [(p["type"], p["data"]["ticket_id"]) for p in got]
    assert sorted(by_ticket) == sorted([("tickets.ticket.created.v1", str(a)), ("tickets.ticket.resolved.v1", str(a)),
                                        ("tickets.ticket.created.v1", str(b))])
    assert by_ticket.index(("tickets.ticket.created.v1", str(a))) < by_ticket.index(("tickets.ticket.resolved.v1", str(a)))
    assert {p["data"]["notify_phone"] for p in got} == {"+91******0001"}  # no phone number leaves in clear
    assert got[0]["event_id"] and got[0]["timestamp"]
    # The reference library's full check (signature and its own clock) on one of them, as a partner would run it.
    first_request = partner.requests[0]
    assert Webhook(sub["secret"]).verify(first_request["body"], first_request["headers"]) == got[0]
    log = await deliveries(notify, sub)
    assert len(log) == 3 and {d["status"] for d in log} == {"delivered"}
    assert {d["webhook_id"] for d in log} == {r["id"] for r in partner.requests}
    detail = (await notify.client.get(f"/webhooks/deliveries/{log[0]['id']}", headers=PARTNER)).json()
    assert [(x["status_code"], x["uncertain"]) for x in detail["attempt_log"]] == [(204, False)]
    assert detail["payload"]["type"] == log[0]["event_type"]
    # Another client (roles given: an empty list means admin in the test helper) sees nothing of it.
    stranger = identity_headers(subject="someone-else", kind="client", roles=["vendor"], scopes=["notify:webhooks"],
                                area_scope=["IN-23"])
    assert (await notify.client.get(f"/webhooks/deliveries/{log[0]['id']}", headers=stranger)).status_code == 404
    assert (await notify.client.get("/webhooks/subscriptions", headers=stranger)).json()["total"] == 0


async def test_failing_endpoint_backs_off_keeps_order_is_paused_owner_told_and_never_blocks_others(
        notify: Notify, receivers: list[Receiver]) -> None:
    for doc in template_documents():
        if doc["key"] == "webhook_paused":
            assert (await notify.client.post("/templates", headers=notify.headers, json=doc)).status_code == 201
    failing, healthy = receivers
    sub = await subscribe(notify, failing, contact_phone="+919811100001", contact_language="en")
    other = await subscribe(notify, healthy)
    failing.fail = [500, 503]
    a = uuid.uuid4()
    await publish(notify, [envelope(created(a)), envelope(resolved(a))])
    await run_deliveries(notify)
    assert [r["id"] for r in failing.requests] == [failing.requests[0]["id"]]  # the second waits behind the first
    assert len(healthy.applied) == 2  # the other subscription got both meanwhile
    log = {d["event_type"]: d for d in await deliveries(notify, sub)}
    first = log["tickets.ticket.created.v1"]
    assert (first["status"], first["attempts"], first["last_status_code"]) == ("pending", 1, 500)
    start = notify.clock.now()
    assert abs((datetime.fromisoformat(first["next_attempt_at"]) - start).total_seconds() - 5) < 1
    await run_deliveries(notify)
    assert len(failing.requests) == 1  # not before its time
    notify.clock.advance(timedelta(seconds=6))
    await run_deliveries(notify)
    assert len(failing.requests) == 2 and failing.requests[1]["id"] == failing.requests[0]["id"]
    assert failing.requests[1]["headers"]["webhook-timestamp"] != failing.requests[0]["headers"]["webhook-timestamp"]
    notify.clock.advance(timedelta(seconds=61))
    await run_deliveries(notify)
    assert [p["type"] for p in failing.applied.values()] == ["tickets.ticket.created.v1", "tickets.ticket.resolved.v1"]
    state = (await notify.client.get(f"/webhooks/subscriptions/{sub['id']}", headers=PARTNER)).json()
    assert (state["consecutive_failures"], state["deliveries"]) == (0, {"delivered": 2})

    # Down for good: four consecutive failures pause it and tell the owner; nothing is tried while paused.
    failing.down = 503
    b = uuid.uuid4()
    await publish(notify, [envelope(created(b))])
    for step in (0, 6, 61, 301):
        notify.clock.advance(timedelta(seconds=step))
        await run_deliveries(notify)
    state = (await notify.client.get(f"/webhooks/subscriptions/{sub['id']}", headers=PARTNER)).json()
    assert state["status"] == "paused" and "4 consecutive" in state["paused_reason"]
    assert len(healthy.applied) == 3
    sms = (await notify.client.get("/messages", headers=notify.headers)).json()["items"]
    assert [(m["template_key"], m["to_masked"]) for m in sms] == [("webhook_paused", "+91******0001")]
    conn = await asyncpg.connect(notify.app.state.runtime.settings.database_url)
    try:
        paused = await conn.fetch("SELECT payload FROM notify.outbox WHERE subject = 'notify.webhook.paused.v1'")
    finally:
        await conn.close()
    assert len(paused) == 1 and json.loads(paused[0]["payload"])["data"]["owner"] == "district-mis"
    tried = len(failing.requests)
    notify.clock.advance(timedelta(hours=3))
    await run_deliveries(notify)
    assert len(failing.requests) == tried
    # Fixed and resumed: the waiting delivery goes at once.
    failing.down = None
    r = await notify.client.post(f"/webhooks/subscriptions/{sub['id']}/resume", headers=PARTNER)
    assert r.status_code == 200 and r.json()["status"] == "active"
    await run_deliveries(notify)
    assert {p["data"]["ticket_id"] for p in failing.applied.values()} == {str(a), str(b)}
    assert other["id"] != sub["id"]


async def test_crash_after_the_partner_accepted_resends_the_same_id_and_nothing_is_applied_twice(
        notify: Notify, receivers: list[Receiver]) -> None:
    partner = receivers[0]
    sub = await subscribe(notify, partner)
    event = envelope(created(uuid.uuid4()))
    await publish(notify, [event])
    crashes = [SimulatedCrash("killed between the partner's 204 and our commit")]

    async def crash(_: Any) -> None:
        if crashes:
            raise crashes.pop()

    notify.app.state.webhooks.after_send = crash
    with pytest.raises(SimulatedCrash):
        await run_deliveries(notify)
    assert len(partner.requests) == 1 and len(partner.applied) == 1
    [delivery] = await deliveries(notify, sub)
    assert delivery["status"] == "pending"  # our record of the outcome was lost with the process
    key = f"webhook:{delivery['id']}:0"
    effect = await effect_status(notify.app.state.runtime.engine, "notify", key)
    assert effect is not None and effect["status"] == "attempted"  # but the attempt was committed before sending
    await asyncio.sleep(1.2)  # the dead worker's lease on the lane job runs out
    await run_deliveries(notify)
    assert len(partner.requests) == 2 and partner.requests[1]["id"] == partner.requests[0]["id"]
    assert len(partner.applied) == 1  # same webhook-id: the partner dropped the repeat
    detail = (await notify.client.get(f"/webhooks/deliveries/{delivery['id']}", headers=PARTNER)).json()
    assert detail["status"] == "delivered"
    assert [(a["effect_key"], a["uncertain"]) for a in detail["attempt_log"]] == [(key, True)]
    # The same event delivered to us again makes no second delivery; asking for a redelivery resends the same id.
    await publish(notify, [event], msg_ids=["redelivered-by-the-bus"])
    assert len(await deliveries(notify, sub)) == 1
    r = await notify.client.post(f"/webhooks/deliveries/{delivery['id']}/redeliver", headers=PARTNER)
    assert r.status_code == 202 and r.json()["redeliveries"] == 1
    await run_deliveries(notify)
    assert [q["id"] for q in partner.requests] == [delivery["webhook_id"]] * 3 and len(partner.applied) == 1
    assert (await effect_status(notify.app.state.runtime.engine, "notify", f"webhook:{delivery['id']}:1"))["status"] == "sent"


async def test_rotation_signs_with_both_secrets_and_410_pauses_at_once(notify: Notify,
                                                                       receivers: list[Receiver]) -> None:
    partner = receivers[0]
    sub = await subscribe(notify, partner)
    r = await notify.client.post(f"/webhooks/subscriptions/{sub['id']}/secret", headers=PARTNER)
    assert r.status_code == 200 and r.json()["secret"] != sub["secret"] and r.json()["previous_secret_until"]
    new_secret = r.json()["secret"]
    await publish(notify, [envelope(created(uuid.uuid4()))])
    await run_deliveries(notify)
    [request] = partner.requests
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (sub["secret"], new_secret):  # a receiver holding either secret accepts it
        Webhook(secret).verify(request["body"], request["headers"])
    partner.fail = [410]
    await publish(notify, [envelope(created(uuid.uuid4()))])
    await run_deliveries(notify)
    state = (await notify.client.get(f"/webhooks/subscriptions/{sub['id']}", headers=PARTNER)).json()
    assert state["status"] == "paused" and "410" in state["paused_reason"]


async def test_bad_subscriptions_are_refused_naming_the_field(notify: Notify) -> None:
    base = {"url": "https://partner.example.org/hooks", "description": "x", "event_types": ["tickets.>"],
            "area_code": "IN-23-0456"}
    cases = [({"url": "ftp://partner.example.org/x"}, "url"), ({"url": "https://user:pw@partner.example.org/"}, "url"),
             ({"event_types": ["registry.person.*.v1"]}, "event_types.0"),
             ({"event_types": ["tickets.>", "tickets..x"]}, "event_types.1")]
    for change, name in cases:
        r = await notify.client.post("/webhooks/subscriptions", headers=PARTNER, json={**base, **change})
        assert r.status_code == 422 and name in {e["field"] for e in r.json()["errors"]}, r.text
    r = await notify.client.post("/webhooks/subscriptions", headers=PARTNER, json={**base, "area_code": "IN-24"})
    assert r.status_code == 403
    no_scope = identity_headers(subject="reader", roles=["auditor"], scopes=[], area_scope=["IN"])
    assert (await notify.client.post("/webhooks/subscriptions", headers=no_scope, json=base)).status_code == 403


TOKENS = st.sampled_from(["tickets", "ticket", "created", "v1", "v2", "benefits", "x"])


@given(st.lists(st.one_of(TOKENS, st.just("*")), min_size=1, max_size=5), st.booleans(),
       st.lists(TOKENS, min_size=1, max_size=6))
def test_patterns_follow_nats_wildcards(pattern: list[str], tail: bool, subject: list[str]) -> None:
    text = ".".join(pattern + ([">"] if tail else []))
    expected = (len(subject) > len(pattern) if tail else len(subject) == len(pattern)) and all(
        p in ("*", s) for p, s in zip(pattern, subject, strict=False))
    assert matches(text, ".".join(subject)) == expected
