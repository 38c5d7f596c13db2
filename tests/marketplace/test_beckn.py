"""The Beckn BPP: signed requests verified, bad context NACKed with the right code, callbacks signed
and delivered once, the search-to-cancel flow and unsolicited on_status."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gramsetu.embedded import free_port
from services.marketplace.beckn import signing
from tests.marketplace.conftest import BLOCK, HERE, START, admin, ok, rate_card, run_jobs, vendor, vendor_user, worker

BAP_ID = "bap.example.org"


class FakeBap:
    """A buyer app: receives callbacks on a real HTTP port and checks the BPP's signatures."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.bpp_key: str | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/bap"

    def public_key(self) -> str:
        return base64.b64encode(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()

        async def lookup(subscriber_id: str, key_id: str) -> str | None:
            return self.bpp_key

        # The BPP signs with its service clock (the test's): verify at that time, not the wall clock's.
        await signing.verify(request.headers.get("Authorization"), body, lookup, now=START.timestamp())
        self.received.append({"path": request.path, **json.loads(body)})
        return web.json_response({"message": {"ack": {"status": "ACK"}}})

    def of(self, action: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["context"]["action"] == action]


@pytest.fixture
async def bap(mp) -> AsyncIterator[FakeBap]:
    fake = FakeBap()
    app = web.Application()
    app.router.add_post("/bap/{action}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", fake.port).start()
    fake.bpp_key = (await ok(await mp.get("/beckn/subscriber", headers=admin())))["signing_public_key"]
    await ok(await mp.put("/beckn/subscribers", json={"subscriber_id": BAP_ID, "unique_key_id": "bk1",
                                                      "type": "BAP", "subscriber_url": fake.uri,
                                                      "signing_public_key": fake.public_key()}, headers=admin()))
    yield fake
    await runner.cleanup()


def context(action_: str, bap: FakeBap, *, txn: str | None = None, **override: Any) -> dict[str, Any]:
    ctx = {"domain": "ONDC:SRV11", "action": action_, "version": "1.1.0",
           "location": {"city": {"code": "std:0522"}, "country": {"code": "IND"}},
           "bap_id": BAP_ID, "bap_uri": bap.uri, "bpp_id": "marketplace.gramsetu.example",
           "bpp_uri": "http://127.0.0.1:8105/beckn", "transaction_id": txn or str(uuid.uuid4()),
           "message_id": str(uuid.uuid4()), "timestamp": START.isoformat().replace("+00:00", "Z"), "ttl": "PT30S"}
    return {**ctx, **override}


async def send(mp, bap: FakeBap, action: str, message: dict[str, Any], *, ctx: dict[str, Any] | None = None,
               key: Ed25519PrivateKey | None = None, tamper: bool = False) -> Any:
    body = json.dumps({"context": ctx or context(action, bap), "message": message}).encode()
    header = signing.sign(body, key or bap.key, subscriber_id=BAP_ID, unique_key_id="bk1",
                          created=int(START.timestamp()))
    if tamper:
        body = body.replace(b"ONDC", b"ONDX")
    return await mp.post(f"/beckn/{action}", content=body, headers={"Authorization": header,
                                                                     "Content-Type": "application/json"})


def end_stop() -> dict[str, Any]:
    return {"type": "end", "location": {"gps": f"{HERE[0]},{HERE[1]}", "area_code": BLOCK, "address": "Ward 4"},
            "contact": {"phone": "9812345678"}, "person": {"name": "Sita Devi"}}


async def deliver(mp, clock) -> None:
    await run_jobs(mp, clock, timedelta(seconds=0))


async def test_bad_context_is_nacked_with_the_code_and_path(mp, bap):
    cases = [({"domain": "ONDC:RET10"}, "context.domain"), ({"version": "0.9"}, "context.version"),
             ({"message_id": "not-a-uuid"}, "context.message_id"), ({"bpp_id": "someone.else"}, "context.bpp_id"),
             ({"timestamp": (START - timedelta(hours=2)).isoformat()}, "context.timestamp"),
             ({"action": "select"}, "context.action"), ({"ttl": "30 seconds"}, "context.ttl")]
    for override, path in cases:
        r = await send(mp, bap, "status", {"order_id": str(uuid.uuid4())}, ctx=context("status", bap, **override))
        assert r.status_code == 400, (override, r.text)
        body = r.json()
        assert body["message"]["ack"]["status"] == "NACK" and body["error"]["code"] == "30000", body
        assert body["error"]["paths"] == path, body
    r = await send(mp, bap, "track", {})
    assert r.status_code == 400 and r.json()["error"]["paths"] == "message.order_id", r.text
    r = await mp.post("/beckn/dance", content=b"{}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "30000"


async def test_unsigned_foreign_or_tampered_requests_are_nacked_10001(mp, bap):
    body = json.dumps({"context": context("search", bap), "message": {}}).encode()
    r = await mp.post("/beckn/search", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "10001" and "Signature" in r.headers["www-authenticate"]
    r = await send(mp, bap, "search", {"intent": {}}, key=Ed25519PrivateKey.generate())
    assert r.status_code == 401 and r.json()["error"]["code"] == "10001"
    r = await send(mp, bap, "search", {"intent": {}}, tamper=True)
    assert r.status_code == 401 and r.json()["error"]["code"] == "10001"


async def test_search_to_cancel_with_signed_callbacks_and_on_status(mp, bap, clock):
    await rate_card(mp)
    await worker(mp, await vendor(mp))
    fulfillment = {"type": "Home-Service", "stops": [end_stop()]}
    r = await send(mp, bap, "search", {"intent": {"category": {"id": "plumbing"}, "fulfillment": fulfillment}})
    assert r.status_code == 200 and r.json()["message"]["ack"]["status"] == "ACK", r.text
    await deliver(mp, clock)
    [on_search] = bap.of("on_search")
    provider = on_search["message"]["catalog"]["providers"][0]
    assert provider["items"][0]["id"] == "plumbing.tap" and provider["items"][0]["price"]["value"] == "250.00"
    txn = str(uuid.uuid4())
    order = {"provider": {"id": provider["id"]}, "items": [{"id": "plumbing.tap", "quantity": {"selected": {"count": 1}}}],
             "fulfillments": [fulfillment], "billing": {"name": "Sita Devi", "phone": "9812345678"}}
    for action in ("select", "init"):
        await ok(await send(mp, bap, action, {"order": order}, ctx=context(action, bap, txn=txn)))
    confirm_ctx = context("confirm", bap, txn=txn)
    await ok(await send(mp, bap, "confirm", {"order": order}, ctx=confirm_ctx))
    await ok(await send(mp, bap, "confirm", {"order": order}, ctx=confirm_ctx))  # the BAP retried: one callback
    await deliver(mp, clock)
    assert bap.of("on_init")[0]["message"]["order"]["quote"]["price"]["value"] == "250.00"
    [on_confirm] = bap.of("on_confirm")
    confirmed = on_confirm["message"]["order"]
    assert on_confirm["context"]["message_id"] == confirm_ctx["message_id"]
    assert confirmed["fulfillments"][0]["stops"][0]["authorization"]["type"] == "OTP"
    booking_id = confirmed["id"]
    booking = await ok(await mp.get(f"/bookings/{booking_id}", headers=admin()))
    assert booking["channel"] == "beckn" and booking["status"] == "offered"
    await ok(await mp.post(f"/bookings/{booking_id}/accept", headers=vendor_user("vendor-a-staff")))
    await deliver(mp, clock)
    states = [m["message"]["order"]["fulfillments"][0]["state"]["descriptor"]["code"] for m in bap.of("on_status")]
    assert states == ["Agent-Assigned"]
    await ok(await send(mp, bap, "cancel", {"order_id": booking_id, "cancellation_reason_id": "006"},
                        ctx=context("cancel", bap, txn=txn)))
    await deliver(mp, clock)
    [on_cancel] = bap.of("on_cancel")
    assert on_cancel["message"]["order"]["status"] == "Cancelled"
    assert on_cancel["message"]["order"]["cancellation"]["cancelled_by"] == "CONSUMER"
    await ok(await send(mp, bap, "status", {"order_id": str(uuid.uuid4())}))
    await deliver(mp, clock)
    assert bap.of("on_status")[-1]["error"]["code"] == "30010"


async def test_no_worker_nearby_answers_40006_in_the_callback(mp, bap, clock):
    await rate_card(mp)
    r = await send(mp, bap, "search", {"intent": {"category": {"id": "plumbing"},
                                                  "fulfillment": {"stops": [end_stop()]}}})
    assert r.json()["message"]["ack"]["status"] == "ACK"
    await deliver(mp, clock)
    assert bap.of("on_search")[0]["error"]["code"] == "40006"
    r = await send(mp, bap, "search", {"intent": {"category": {"id": "plumbing"}, "fulfillment": {"stops": [
        {"type": "end", "location": {"gps": "north"}}]}}})
    assert r.status_code == 400 and r.json()["error"]["paths"].endswith("location.gps")


def test_signature_string_is_beckn_006() -> None:
    key = Ed25519PrivateKey.generate()
    header = signing.sign(b"{}", key, subscriber_id="a.b", unique_key_id="k", created=1700000000, ttl=60)
    assert header.startswith('Signature keyId="a.b|k|ed25519",algorithm="ed25519",created="1700000000"')
    assert signing.signing_string(1, 2, b"{}") == (
        b"(created): 1\n(expires): 2\ndigest: BLAKE-512=" +
        base64.b64encode(__import__("hashlib").blake2b(b"{}", digest_size=64).digest()))


async def test_track_and_a_reschedule_by_update(mp, bap, clock):
    await rate_card(mp)
    v = await vendor(mp)
    first = await worker(mp, v, km_east=1.0, name="Ramesh")
    second = await worker(mp, v, km_east=3.0, name="Suresh")
    staff = vendor_user("vendor-a-staff")
    txn = str(uuid.uuid4())
    fulfillment = {"type": "Home-Service", "stops": [end_stop()]}
    order = {"items": [{"id": "plumbing.tap"}], "fulfillments": [fulfillment],
             "billing": {"name": "Sita Devi", "phone": "9812345678"}}
    await ok(await send(mp, bap, "confirm", {"order": order}, ctx=context("confirm", bap, txn=txn)))
    await deliver(mp, clock)
    booking_id = bap.of("on_confirm")[0]["message"]["order"]["id"]
    assert (await ok(await mp.get(f"/bookings/{booking_id}", headers=admin())))["offer_worker_id"] == first
    await ok(await mp.post(f"/bookings/{booking_id}/accept", headers=staff))

    await ok(await send(mp, bap, "track", {"order_id": booking_id}, ctx=context("track", bap, txn=txn)))
    await deliver(mp, clock)
    assert bap.of("on_track")[-1]["message"]["tracking"]["status"] == "inactive"  # not on the way yet

    def moved_to(day: str) -> dict[str, Any]:
        stop = {**end_stop(), "time": {"range": {"start": f"{day}T11:00:00+05:30", "end": f"{day}T13:00:00+05:30"}}}
        return {"update_target": "fulfillment", "order": {"id": booking_id, "fulfillments": [{"stops": [stop]}]}}

    await ok(await send(mp, bap, "update", moved_to("2026-12-08"), ctx=context("update", bap, txn=txn)))
    await deliver(mp, clock)
    updated = bap.of("on_update")[-1]["message"]["order"]
    assert updated["fulfillments"][0]["state"]["descriptor"]["code"] == "Agent-Assigned"
    assert updated["fulfillments"][0]["stops"][0]["time"]["range"]["start"] == "2026-12-08T05:30:00Z"
    # The worker is off that day: the update releases them and the order goes to the next worker.
    r = await mp.post(f"/workers/{first}/shift-exceptions", json={"on_date": "2026-12-09", "available": False},
                      headers=admin())
    assert r.status_code == 204, r.text
    await ok(await send(mp, bap, "update", moved_to("2026-12-09"), ctx=context("update", bap, txn=txn)))
    await deliver(mp, clock)
    assert bap.of("on_update")[-1]["message"]["order"]["fulfillments"][0]["state"]["descriptor"]["code"] == "Pending"
    booking = await ok(await mp.get(f"/bookings/{booking_id}", headers=admin()))
    assert booking["status"] == "offered" and booking["offer_worker_id"] == second
    r = await send(mp, bap, "update", {"update_target": "payment", "order": {"id": booking_id}},
                   ctx=context("update", bap, txn=txn))
    assert r.json()["message"]["ack"]["status"] == "ACK"
    await deliver(mp, clock)
    assert bap.of("on_update")[-1]["error"]["code"] == "50002"

    await ok(await mp.post(f"/bookings/{booking_id}/accept", headers=staff))
    await ok(await mp.post(f"/bookings/{booking_id}/depart", headers=staff))
    await ok(await mp.put(f"/workers/{second}/availability", json={"available": True, "lat": 26.86, "lon": 80.96},
                          headers=admin()))
    await ok(await send(mp, bap, "track", {"order_id": booking_id}, ctx=context("track", bap, txn=txn)))
    await deliver(mp, clock)
    tracking = bap.of("on_track")[-1]["message"]["tracking"]
    assert tracking["status"] == "active" and tracking["location"]["gps"] == "26.860000,80.960000"


async def test_rating_a_completed_order_rates_the_worker_with_one_on_rating(mp, bap, clock):
    await rate_card(mp)
    w = await worker(mp, await vendor(mp))
    staff = vendor_user("vendor-a-staff")
    txn = str(uuid.uuid4())
    order = {"items": [{"id": "plumbing.tap"}], "fulfillments": [{"type": "Home-Service", "stops": [end_stop()]}],
             "billing": {"name": "Sita Devi", "phone": "9812345678"}}
    await ok(await send(mp, bap, "confirm", {"order": order}, ctx=context("confirm", bap, txn=txn)))
    await deliver(mp, clock)
    confirmed = bap.of("on_confirm")[0]["message"]["order"]
    booking_id = confirmed["id"]
    start_code = confirmed["fulfillments"][0]["stops"][0]["authorization"]["token"]
    completion_code = confirmed["fulfillments"][0]["tags"][0]["list"][0]["value"]

    def rating(value: Any) -> dict[str, Any]:
        return {"ratings": [{"id": booking_id, "rating_category": "Order", "value": str(value)}]}

    # Not done yet: the callback carries the refusal and the worker's rating does not move.
    await ok(await send(mp, bap, "rating", rating(4), ctx=context("rating", bap, txn=txn)))
    await deliver(mp, clock)
    [refused] = bap.of("on_rating")
    assert refused["error"]["code"] == "40000", refused
    assert (await ok(await mp.get(f"/workers/{w}", headers=admin())))["rating_count"] == 0

    await ok(await mp.post(f"/bookings/{booking_id}/accept", headers=staff))
    await ok(await mp.post(f"/bookings/{booking_id}/depart", headers=staff))
    await ok(await mp.post(f"/bookings/{booking_id}/arrive", headers=staff))
    await ok(await mp.post(f"/bookings/{booking_id}/start", json={"otp": start_code}, headers=staff))
    await ok(await mp.post(f"/bookings/{booking_id}/complete", json={"otp": completion_code}, headers=staff))
    bap.received.clear()

    rate_ctx = context("rating", bap, txn=txn)
    await ok(await send(mp, bap, "rating", rating(4), ctx=rate_ctx))
    await ok(await send(mp, bap, "rating", rating(4), ctx=rate_ctx))  # the BAP retried the same message
    await deliver(mp, clock)
    [on_rating] = bap.of("on_rating")
    assert on_rating["context"]["message_id"] == rate_ctx["message_id"]
    assert "error" not in on_rating and on_rating["message"]["rating_ack"] is True, on_rating
    rated = await ok(await mp.get(f"/workers/{w}", headers=admin()))
    assert rated["rating"] == 4 and rated["rating_count"] == 1
    assert (await ok(await mp.get(f"/bookings/{booking_id}", headers=admin())))["status"] == "rated"
