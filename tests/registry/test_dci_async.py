"""DCI async flows against a real callback server: on-search, txn/on-status, subscribe -> notify, the allow-list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest

from tests.registry.conftest import WARD, bus_events, create_household, household, member
from tests.registry.dci_support import (
    CallbackServer,
    Sender,
    onboard,
    search_item,
    validate,
    validate_ack,
    verify_reply,
)

SENDER = Sender("dept-food", "cli_food")


@pytest.fixture
async def callback_server() -> AsyncIterator[CallbackServer]:
    server = CallbackServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _post(client, path, env):
    r = await client.post(path, json=env, headers=SENDER.headers())
    assert r.status_code == 200, r.text
    validate_ack(r.json())
    assert r.json()["message"]["ack_status"] == "ACK"
    return r.json()["message"]["correlation_id"]


async def test_async_search_and_txn_status_callbacks(client, callback_server):
    await create_household(client, household(members=[member("Amena Khatun", "female", "head")]))
    await onboard(client, SENDER, [callback_server.base + "/dci/"])
    env = SENDER.envelope("search", {"transaction_id": "T-A", "search_request": [
        search_item("R-1", "predicate", [{"expression1": {"attribute_name": "sex", "operator": "eq",
                                                          "attribute_value": "female"}}])]},
        sender_uri=callback_server.base + "/dci/registry")
    correlation_id = await _post(client, "/registry/search", env)
    # A resend of the same message is acknowledged with the same correlation id and not run twice.
    assert await _post(client, "/registry/search", env) == correlation_id

    [reply] = await callback_server.wait_for("/dci/registry/on-search")
    validate(reply["header"], "schemas/MsgCallbackHeader_V1.0.0")
    validate(reply["message"], "schemas/SearchResponse")
    await verify_reply(client, reply)
    assert reply["message"]["correlation_id"] == correlation_id
    records = reply["message"]["search_response"][0]["data"]["reg_records"]
    assert [r["demographic_info"]["name"]["given_name"] for r in records] == ["Amena Khatun"]
    signature_header = next(h for p, _, h in callback_server.received if p == "/dci/registry/on-search")["Signature"]
    assert signature_header == reply["signature"]

    status = {"transaction_id": "T-S", "txnstatus_request": {"reference_id": "S-1", "txn_type": "search",
                                                             "attribute_type": "correlation_id",
                                                             "attribute_value": correlation_id}}
    await _post(client, "/registry/txn/status",
                SENDER.envelope("txn-status", status, sender_uri=callback_server.base + "/dci/registry"))
    [on_status] = await callback_server.wait_for("/dci/registry/txn/on-status")
    validate(on_status["message"], "schemas/TxnStatusResponse")
    txn = on_status["message"]["txnstatus_response"]["txn_status"]
    assert txn["transaction_id"] == "T-A" and txn["search_response"][0]["status"] == "succ"
    await asyncio.sleep(0.5)
    assert len(callback_server.at("/dci/registry/on-search")) == 1  # delivered once


async def test_callback_outside_allowlist_is_refused(client, callback_server):
    await onboard(client, SENDER, [callback_server.base + "/dci/"])
    message = {"transaction_id": "T-X", "search_request": [search_item("R-1", "idtype-value",
                                                                       {"type": "BRN", "value": "1"})]}
    for uri in ("http://169.254.169.254/latest", callback_server.base + "/elsewhere", "file:///etc/passwd",
                "http://user:pw@127.0.0.1/dci/"):
        r = await client.post("/registry/search", json=SENDER.envelope("search", message, sender_uri=uri),
                              headers=SENDER.headers())
        assert r.status_code == 400, uri
        assert r.json()["message"]["error"]["code"] == "err.sender_uri.invalid"
    # Onboarding refuses plain http to a non-loopback host.
    r = await onboard(client, Sender("dept-x", "cli_x"), ["http://10.0.0.5/"])
    assert r.status_code == 422
    await asyncio.sleep(0.3)
    assert callback_server.received == []


async def test_subscribe_notify_once_then_unsubscribe(client, callback_server, nats_url, database_url):
    base = callback_server.base + "/dci/registry"
    await onboard(client, SENDER, [callback_server.base + "/dci/"], default_callback=base)
    subscribe = {"transaction_id": "T-SUB", "subscribe_request": [{
        "reference_id": "SUB-1", "timestamp": "2026-11-23T10:00:00+05:30",
        "subscribe_criteria": {
            "reg_type": "ns:org:RegistryType:Social", "reg_event_type": "REGISTER", "filter_type": "expression",
            "filter": {"type": "ns:org:QueryType:expression",
                       "value": {"expression": {"collection": "Member", "query": {"sex": {"$eq": "female"}}}}},
            "notify_record_type": "Member"}}]}
    await _post(client, "/registry/subscribe", SENDER.envelope("subscribe", subscribe))
    [on_subscribe] = await callback_server.wait_for("/dci/registry/on-subscribe")
    validate(on_subscribe["message"], "schemas/SubscribeResponse")
    [info] = on_subscribe["message"]["subscribe_response"][0]["subscriptions"]
    assert info["status"] == "subscribe"

    await create_household(client, household(members=[member("Rina Begum", "female", "head"),
                                                      member("Karim", "male", "spouse")]))
    [notify] = await callback_server.wait_for("/dci/registry/notify")
    validate(notify["message"], "schemas/NotifyEventRequest")
    validate(notify["header"], "schemas/MsgCallbackHeader_V1.0.0")
    await verify_reply(client, notify)
    event = notify["message"]["notify_event"][0]
    assert event["data"]["reg_event_type"] == "REGISTER"
    assert [r["demographic_info"]["name"]["given_name"] for r in event["data"]["reg_records"]] == ["Rina Begum"]

    # Redeliver the event (as JetStream would after a lost ack): no second notification.
    envelopes = await bus_events(nats_url, database_url, {"registry.person.registered.v1"})
    rina = next(e for e in envelopes if e.type == "registry.person.registered.v1" and e.data["full_name"] == "Rina Begum")
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(rina.type, rina.model_dump_json().encode())
    finally:
        await nc.close()
    await asyncio.sleep(1.5)
    assert len(callback_server.at("/dci/registry/notify")) == 1

    unsubscribe = {"transaction_id": "T-UNSUB", "timestamp": "2026-11-23T10:05:00+05:30",
                   "subscription_codes": [info["code"]]}
    await _post(client, "/registry/unsubscribe", SENDER.envelope("unsubscribe", unsubscribe))
    [on_unsub] = await callback_server.wait_for("/dci/registry/on-unsubscribe")
    validate(on_unsub["message"], "schemas/UnSubscribeResponse")
    assert on_unsub["message"]["status"] == "succ"
    assert on_unsub["message"]["subscription_status"] == [{"code": info["code"], "status": "unsubscribe"}]

    await create_household(client, household(area=WARD, members=[member("Sumi Akter", "female", "head")]))
    await asyncio.sleep(1.5)
    assert len(callback_server.at("/dci/registry/notify")) == 1  # no notifications after unsubscribing
