"""The BPP on a network: a BAP's standard ``Authorization: Signature keyId=...`` reaches it through
the real gateway (which asks such callers for no key and passes that header on the Beckn paths
only), and the signer's key comes from a Beckn registry over HTTP (the local stand-in), cached."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.types import ASGIApp, Receive, Scope, Send

from gramsetu.embedded import free_port
from kernel.paths import SIGNED_PATHS
from kernel.scheduler import ManualClock
from kernel.settings import Settings
from services.marketplace.beckn import signing
from services.marketplace.beckn.registry_standin import RegistryStandIn
from services.marketplace.rules.beckn import ACTIONS
from services.marketplace.settings import get_marketplace_settings
from tests.gateway.conftest import Served, gateway_config
from tests.marketplace.conftest import BLOCK, HERE, admin, ok, rate_card, vendor, worker
from tests.marketplace.test_beckn import BAP_ID, FakeBap

NETWORK = {"type": "BAP", "domain": "ONDC:SRV11", "country": "IND"}


@dataclass
class HeaderRecorder:
    """Wraps the marketplace app and keeps the headers of each request that reached it."""

    app: ASGIApp
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["path"], {k.decode(): v.decode() for k, v in scope["headers"]}))
        await self.app(scope, receive, send)


@dataclass
class Network:
    registry: RegistryStandIn
    bap: FakeBap
    recorder: HeaderRecorder
    mp: httpx.AsyncClient  # straight to the marketplace (set-up with gateway-style identity headers)
    gateway: httpx.AsyncClient
    app: Any


async def _site(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


@pytest.fixture
async def network(clean: None, settings: Settings, clock: ManualClock,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Network]:
    from gateway.app import create_app as create_gateway
    from services.marketplace.app import create_app

    registry = RegistryStandIn()
    registry_runner, registry_port = await _site(registry.app())
    bap = FakeBap()
    bap_app = web.Application()
    bap_app.router.add_post("/bap/{action}", bap.handle)
    bap_runner, bap.port = await _site(bap_app)
    monkeypatch.setenv("GRAMSETU_MARKETPLACE_BECKN_REGISTRY_URL", f"http://127.0.0.1:{registry_port}")
    get_marketplace_settings.cache_clear()
    try:
        app = create_app(settings, clock=clock, workers=False)
        recorder = HeaderRecorder(app)
        async with Served(recorder) as served:  # type: ignore[arg-type]
            gateway = create_gateway(settings, config=gateway_config(), upstreams={"marketplace": served.url})
            async with Served(gateway) as gw, httpx.AsyncClient(base_url=served.url, timeout=30) as mp, \
                    httpx.AsyncClient(base_url=gw.url, timeout=30) as through:
                bap.bpp_key = (await ok(await mp.get("/beckn/subscriber", headers=admin())))["signing_public_key"]
                registry.subscribe({**NETWORK, "subscriber_id": BAP_ID, "unique_key_id": "bk1",
                                    "subscriber_url": bap.uri, "signing_public_key": bap.public_key()})
                yield Network(registry, bap, recorder, mp, through, app)
    finally:
        get_marketplace_settings.cache_clear()
        await bap_runner.cleanup()
        await registry_runner.cleanup()


def signed(net: Network, action: str, message: dict[str, Any], now: datetime, *, key_id: str = "bk1",
           key: Ed25519PrivateKey | None = None, txn: str | None = None) -> tuple[bytes, str]:
    context = {"domain": "ONDC:SRV11", "action": action, "version": "1.1.0",
               "location": {"city": {"code": "std:0522"}, "country": {"code": "IND"}},
               "bap_id": BAP_ID, "bap_uri": net.bap.uri, "bpp_id": "marketplace.gramsetu.example",
               "bpp_uri": "http://127.0.0.1:8105/beckn", "transaction_id": txn or str(uuid.uuid4()),
               "message_id": str(uuid.uuid4()), "timestamp": now.isoformat().replace("+00:00", "Z"), "ttl": "PT30S"}
    body = json.dumps({"context": context, "message": message}).encode()
    header = signing.sign(body, key or net.bap.key, subscriber_id=BAP_ID, unique_key_id=key_id,
                          created=int(now.timestamp()))
    return body, header


def search_message() -> dict[str, Any]:
    stop = {"type": "end", "location": {"gps": f"{HERE[0]},{HERE[1]}", "area_code": BLOCK}}
    return {"intent": {"category": {"id": "plumbing"}, "fulfillment": {"type": "Home-Service", "stops": [stop]}}}


def test_the_gateway_passes_signatures_on_exactly_the_bpp_actions() -> None:
    assert SIGNED_PATHS["marketplace"] == tuple(f"/marketplace/beckn/{a}" for a in ACTIONS)
    assert {"track", "update"} <= set(ACTIONS)


async def test_a_signed_search_reaches_the_bpp_through_the_gateway_with_its_own_authorization(
        network: Network, clock: ManualClock) -> None:
    net = network
    await rate_card(net.mp)
    await worker(net.mp, await vendor(net.mp))
    body, header = signed(net, "search", search_message(), clock.now())
    r = await net.gateway.post("/marketplace/beckn/search", content=body,
                               headers={"Authorization": header, "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["message"]["ack"]["status"] == "ACK", r.text
    path, headers = net.recorder.seen[-1]
    assert path == "/beckn/search" and headers["authorization"] == header
    assert "x-gramsetu-identity" not in headers  # a network caller has no GramSetu identity
    assert await net.app.state.runtime.scheduler.run_due() >= 1
    [on_search] = net.bap.of("on_search")  # signed by the BPP, verified by the BAP
    assert on_search["message"]["catalog"]["providers"][0]["items"][0]["id"] == "plumbing.tap"

    # The same signature on the BPP's other paths is not a gateway credential, and never forwarded.
    before = len(net.recorder.seen)
    r = await net.gateway.get("/marketplace/categories", headers={"Authorization": header})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    r = await net.gateway.get("/marketplace/beckn/search", headers={"Authorization": header})
    assert r.status_code == 401
    assert len(net.recorder.seen) == before
    # A bearer token sent to a Beckn path stays at the gateway: the BPP sees no credential and NACKs.
    r = await net.gateway.post("/marketplace/beckn/search", content=body,
                               headers={"Authorization": "Bearer secret-token", "Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "10001", r.text
    assert "authorization" not in net.recorder.seen[-1][1]


async def test_keys_come_from_the_registry_cached_and_revocation_takes_hold_after_the_cache(
        network: Network, clock: ManualClock) -> None:
    net = network
    settings = get_marketplace_settings()

    async def post(action: str, message: dict[str, Any], **kw: Any) -> httpx.Response:
        body, header = signed(net, action, message, clock.now(), **kw)
        return await net.gateway.post(f"/marketplace/beckn/{action}", content=body,
                                      headers={"Authorization": header, "Content-Type": "application/json"})

    await ok(await post("support", {"support": {}}))
    await ok(await post("support", {"support": {}}))
    assert net.registry.lookups == 1  # the second request used the cached key
    r = await post("support", {"support": {}}, key_id="bk2")  # a key the registry does not list
    assert r.status_code == 401 and r.json()["error"]["code"] == "10001", r.text
    r = await post("support", {"support": {}}, key=Ed25519PrivateKey.generate())  # listed keyId, wrong key
    assert r.status_code == 401 and r.json()["error"]["code"] == "10001", r.text
    assert net.registry.lookups == 2

    # The registry revokes the BAP: honoured once the cached entry has aged out, not before.
    net.registry.subscribe({**NETWORK, "subscriber_id": BAP_ID, "unique_key_id": "bk1", "status": "UNSUBSCRIBED",
                            "subscriber_url": net.bap.uri, "signing_public_key": net.bap.public_key()})
    await ok(await post("support", {"support": {}}))
    clock.advance(timedelta(seconds=settings.beckn_registry_cache_seconds + 1))
    r = await post("support", {"support": {}})
    assert r.status_code == 401 and r.json()["error"]["code"] == "10001", r.text
    # An entry past its valid_until is refused as well.
    net.registry.subscribe({**NETWORK, "subscriber_id": BAP_ID, "unique_key_id": "bk3", "subscriber_url": net.bap.uri,
                            "signing_public_key": net.bap.public_key(),
                            "valid_until": (clock.now() - timedelta(days=1)).isoformat()})
    r = await post("support", {"support": {}}, key_id="bk3")
    assert r.status_code == 401 and r.json()["error"]["code"] == "10001", r.text


async def test_a_registry_that_does_not_answer_is_a_retryable_nack_not_a_500(
        network: Network, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    net = network
    monkeypatch.setenv("GRAMSETU_MARKETPLACE_BECKN_REGISTRY_URL", "http://127.0.0.1:9")  # nothing listens there
    get_marketplace_settings.cache_clear()
    body, header = signed(net, "support", {"support": {}}, clock.now())
    r = await net.gateway.post("/marketplace/beckn/support", content=body,
                               headers={"Authorization": header, "Content-Type": "application/json"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "31001", r.text
    assert r.headers["retry-after"]
