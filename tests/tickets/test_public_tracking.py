"""The public status page through the real gateway, as a citizen reaches it: no credential at all.

The tickets service and the gateway run as real uvicorn servers; the reporter's request carries no
API key and no token.  Only the read-only status page is open, limited per source address; every
other tickets route still needs a credential, and a credential that is offered must be valid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from gateway.config import Limit
from kernel.scheduler import ManualClock
from kernel.settings import Settings
from tests.gateway.conftest import Served, gateway_config
from tests.tickets.conftest import BLOCK_AGENT, MONDAY_11, Desks, setup_desks

SOURCE_A, SOURCE_B = "203.0.113.7", "198.51.100.23"


@dataclass
class Public:
    desks: Desks
    gateway: httpx.AsyncClient


@pytest.fixture
async def public(clean: None, settings: Settings) -> AsyncIterator[Public]:
    from gateway.app import create_app as create_gateway
    from services.tickets.app import create_app as create_tickets

    clock = ManualClock(MONDAY_11)
    async with Served(create_tickets(settings, clock=clock, workers=False)) as tickets:
        # The test's requests come from 127.0.0.1, here an ingress whose X-Forwarded-For names the source.
        config = gateway_config(anonymous_limit=Limit(per_minute=1, capacity=3), trusted_proxies=["127.0.0.1"])
        down = "http://127.0.0.1:9"
        gateway = create_gateway(settings, config=config, upstreams={
            "registry": down, "benefits": down, "notify": down, "marketplace": down, "tickets": tickets.url})
        async with Served(gateway) as gw, httpx.AsyncClient(base_url=tickets.url, timeout=30) as direct, \
                httpx.AsyncClient(base_url=gw.url, timeout=30) as anonymous:
            direct.app = tickets.server.config.app  # type: ignore[attr-defined]
            direct.clock = clock  # type: ignore[attr-defined]
            yield Public(await setup_desks(direct), anonymous)


async def test_a_citizen_reads_the_status_page_with_no_credential(public: Public) -> None:
    ticket = await public.desks.raise_ticket()
    await public.desks.client.post(f"/{ticket['id']}/comments", json={"body": "Please update the app"},
                                   headers=BLOCK_AGENT)
    await public.desks.client.post(f"/{ticket['id']}/comments", json={"body": "PRIVATE desk note",
                                                                      "visibility": "internal"}, headers=BLOCK_AGENT)
    number = ticket["tracking_number"]
    r = await public.gateway.get(f"/tickets/track/{number}", params={"lang": "en"},
                                 headers={"X-Forwarded-For": SOURCE_A})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html") and "script-src" not in r.headers.get(
        "content-security-policy", "") and r.headers["cache-control"] == "no-store"
    page = r.text
    assert number in page and "Block help desk" in page and "Please update the app" in page
    # Nothing private: no name, phone, description, agent or internal note.
    for private in ("Sunita", "9876543210", "Growth data", "block-agent", "PRIVATE"):
        assert private not in page
    # A number that does not exist gets the page that says so, still without a credential.
    missing = await public.gateway.get("/tickets/track/AAAA-AAAA", headers={"X-Forwarded-For": SOURCE_A})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


async def test_only_the_status_page_is_open_and_an_offered_credential_must_be_valid(public: Public) -> None:
    ticket = await public.desks.raise_ticket()
    for method, path in (("GET", f"/tickets/{ticket['id']}"), ("GET", "/tickets"), ("POST", "/tickets"),
                         ("GET", f"/tickets/{ticket['id']}/stream"), ("POST", f"/tickets/track/{ticket['tracking_number']}")):
        r = await public.gateway.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.status_code)
    # A caller who sends a credential is authenticated as usual: a wrong key is refused, not made anonymous.
    r = await public.gateway.get(f"/tickets/track/{ticket['tracking_number']}", headers={"X-API-Key": "gsk_wrong"})
    assert r.status_code == 401
    # Forged identity headers of an anonymous caller never reach the service (the page ignores them anyway,
    # and every other route answers 401 at the gateway before forwarding).
    r = await public.gateway.get(f"/tickets/{ticket['id']}", headers=BLOCK_AGENT)
    assert r.status_code == 401


async def test_anonymous_lookups_are_limited_per_source_address(public: Public) -> None:
    number = (await public.desks.raise_ticket())["tracking_number"]
    statuses = [(await public.gateway.get(f"/tickets/track/{number}", headers={"X-Forwarded-For": SOURCE_A})
                 ).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # capacity 3, refilled at one a minute
    limited = await public.gateway.get("/tickets/track/AAAA-AAAA", headers={"X-Forwarded-For": SOURCE_A})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1  # guesses count too
    # Another source has its own bucket.
    r = await public.gateway.get(f"/tickets/track/{number}", headers={"X-Forwarded-For": SOURCE_B})
    assert r.status_code == 200


async def test_the_merged_api_document_marks_the_page_as_needing_no_credential(public: Public) -> None:
    doc = (await public.gateway.get("/openapi.json")).json()
    assert doc["paths"]["/tickets/track/{number}"]["get"]["security"] == [{}]
    assert doc["paths"]["/tickets/{ticket_id}"]["get"]["security"] != [{}]
