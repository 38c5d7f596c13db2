"""The registry profile's scenarios as a DCI conformance client runs them: over HTTP, through the
gateway, with an OAuth2 bearer token and an onboarded sender, callbacks to the sender's own URL.

Sync and async search (idtype-value, expression, predicate), subscribe / notify / unsubscribe,
transaction status (sync and async), and the negative cases, each answered as the DCI error
acknowledgement in ``application/json`` (what DCI clients parse), never as problem+json.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.cli import provision_client
from kernel.settings import Settings
from services.registry.service import dci_signing
from tests.conftest import _delete_streams, _truncate_all
from tests.gateway.conftest import Served, gateway_config
from tests.registry.conftest import AREAS, WARD, brn
from tests.registry.dci_support import REGISTRY_ID, CallbackServer, Sender, search_item, validate, validate_ack

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class Dci:
    gateway: str
    admin: dict[str, str]
    callbacks: CallbackServer
    settings: Settings

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway, timeout=30)

    async def sender(self, *, require_signature: bool = True, scopes: tuple[str, ...] = ("registry:dci",)
                     ) -> tuple[Sender, dict[str, str]]:
        """A department system: a gateway client (OAuth2), onboarded as a DCI sender; its bearer header."""
        name = f"dept-{uuid.uuid4().hex[:8]}"
        issued = await provision_client(name, list(scopes), [WARD], settings=self.settings)
        sender = Sender(name, issued.client_id)
        body = {"client_id": issued.client_id, "name": name, "callback_allowlist": [self.callbacks.base + "/dci/"],
                "default_callback_uri": self.callbacks.base + f"/dci/{name}",
                "public_keys": [sender.jwk()] if require_signature else [], "require_signature": require_signature}
        async with self.http() as http:
            r = await http.put(f"/registry/dci/senders/{name}", json=body, headers=self.admin)
            assert r.status_code == 200, r.text
            assert r.json()["require_signature"] is require_signature
            token = await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                                    auth=(issued.client_id, issued.client_secret))
            assert token.status_code == 200, token.text
        return sender, {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture(scope="module")
async def dci(database_url: str, nats_url: str, settings: Settings) -> AsyncIterator[Dci]:
    from gateway.app import create_app as create_gateway
    from services.registry.app import create_app as create_registry

    await _truncate_all(database_url)
    await _delete_streams(nats_url)
    callbacks = CallbackServer()
    await callbacks.start()
    try:
        # The registry with its workers: the scheduler delivers async replies, consumers notify.
        async with Served(create_registry(settings)) as registry:
            app = create_gateway(settings, config=gateway_config(), upstreams={"registry": registry.url})
            async with Served(app) as gw:
                admin = await provision_client(f"dci-admin-{uuid.uuid4().hex[:6]}", ["*"], settings=settings)
                headers = {"X-API-Key": admin.api_key}
                async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30) as http:
                    for code in AREAS:
                        assert (await http.post("/registry/areas", json={"code": code, "name": code})).status_code == 201
                    r = await http.post("/registry/households", json={
                        "area_code": WARD, "address": "Ward 8, house 1", "members": [
                            {"full_name": "Amena Khatun", "sex": "female", "role": "head", "birth_date": "1960-03-01",
                             "identifiers": [{"type": "bd_brn", "value": brn(1960, 11)}]},
                            {"full_name": "Karim Uddin", "sex": "male", "role": "spouse", "birth_date": "1955-01-01"}]})
                    assert r.status_code == 201, r.text
                yield Dci(gw.url, headers, callbacks, settings)
    finally:
        await callbacks.stop()


def _search(sender: Sender, items: list[dict[str, Any]], **header: Any) -> dict[str, Any]:
    header = {"total_count": len(items), **header}
    return sender.envelope("search", {"transaction_id": f"T-{uuid.uuid4().hex[:8]}", "search_request": items},
                           **header)


def _given_names(item: dict[str, Any]) -> list[str]:
    return [r["demographic_info"]["name"]["given_name"] for r in item["data"]["reg_records"]]


async def _ack(http: httpx.AsyncClient, path: str, envelope: dict[str, Any], auth: dict[str, str]) -> str:
    r = await http.post(path, json=envelope, headers=auth)
    assert r.status_code == 200, r.text
    validate_ack(r.json())
    assert r.json()["message"]["ack_status"] == "ACK"
    return str(r.json()["message"]["correlation_id"])


async def test_sync_search_idtype_expression_predicate(dci: Dci) -> None:
    sender, auth = await dci.sender()
    items = [
        search_item("R-id", "idtype-value", {"type": "BRN", "value": brn(1960, 11)}),
        search_item("R-expr", "expression", {"type": "ns:org:QueryType:expression", "value": {"expression": {
            "collection": "Member", "query": {"$and": [{"sex": {"$eq": "female"}}]}}}}),
        search_item("R-pred", "predicate", [{"seq_num": 1, "expression1": {
            "attribute_name": "YOB", "operator": "lt", "attribute_value": "1958"}}]),
    ]
    async with dci.http() as http:
        r = await http.post("/registry/sync/search", json=_search(sender, items), headers=auth)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        validate(body["message"], "schemas/SearchResponse")
        validate(body["header"], "schemas/MsgCallbackHeader_V1.0.0")
        await _verify(http, auth, body)
    results = {i["reference_id"]: i for i in body["message"]["search_response"]}
    assert {k: v["status"] for k, v in results.items()} == {"R-id": "succ", "R-expr": "succ", "R-pred": "succ"}
    assert _given_names(results["R-id"]) == ["Amena Khatun"]
    assert _given_names(results["R-expr"]) == ["Amena Khatun"]
    assert _given_names(results["R-pred"]) == ["Karim Uddin"]


async def _verify(http: httpx.AsyncClient, auth: dict[str, str], envelope: dict[str, Any]) -> None:
    """The registry's signature checks out against the JWKS a sender reads through the gateway."""
    r = await http.get("/registry/dci/jwks.json", headers=auth)
    assert r.status_code == 200, r.text
    dci_signing.verify(envelope["signature"], envelope["header"], envelope["message"], r.json()["keys"],
                       sender_id=REGISTRY_ID)


async def test_async_search_and_txn_status_call_back_the_senders_url(dci: Dci) -> None:
    sender, auth = await dci.sender()
    base = dci.callbacks.base + f"/dci/{sender.sender_id}"
    envelope = _search(sender, [search_item("R-1", "idtype-value", {"type": "BRN", "value": brn(1960, 11)})],
                       sender_uri=base)
    async with dci.http() as http:
        correlation_id = await _ack(http, "/registry/search", envelope, auth)
        [reply] = await dci.callbacks.wait_for(f"/dci/{sender.sender_id}/on-search")
        validate(reply["message"], "schemas/SearchResponse")
        await _verify(http, auth, reply)
        assert reply["message"]["correlation_id"] == correlation_id
        assert _given_names(reply["message"]["search_response"][0]) == ["Amena Khatun"]
        status = {"transaction_id": "T-S1", "txnstatus_request": {
            "reference_id": "S-1", "txn_type": "search", "attribute_type": "correlation_id",
            "attribute_value": correlation_id}}
        r = await http.post("/registry/sync/txn/status", json=sender.envelope("txn-status", status), headers=auth)
        assert r.status_code == 200, r.text
        validate(r.json()["message"], "schemas/TxnStatusResponse")
        assert r.json()["message"]["txnstatus_response"]["txn_status"]["transaction_id"] == envelope["message"][
            "transaction_id"]
        await _ack(http, "/registry/txn/status", sender.envelope("txn-status", status, sender_uri=base), auth)
    [on_status] = await dci.callbacks.wait_for(f"/dci/{sender.sender_id}/txn/on-status")
    validate(on_status["message"], "schemas/TxnStatusResponse")


async def test_subscribe_notify_unsubscribe(dci: Dci) -> None:
    sender, auth = await dci.sender()
    path = f"/dci/{sender.sender_id}"
    subscribe = {"transaction_id": "T-SUB", "subscribe_request": [{
        "reference_id": "SUB-1", "timestamp": "2026-12-07T10:00:00+06:00",
        "subscribe_criteria": {
            "reg_type": "ns:org:RegistryType:Social", "reg_event_type": "REGISTER", "filter_type": "expression",
            "filter": {"type": "ns:org:QueryType:expression",
                       "value": {"expression": {"collection": "Member", "query": {"sex": {"$eq": "female"}}}}},
            "notify_record_type": "Member"}}]}
    async with dci.http() as http:
        await _ack(http, "/registry/subscribe", sender.envelope("subscribe", subscribe), auth)
        [on_subscribe] = await dci.callbacks.wait_for(f"{path}/on-subscribe")
        validate(on_subscribe["message"], "schemas/SubscribeResponse")
        [info] = on_subscribe["message"]["subscribe_response"][0]["subscriptions"]
        r = await http.post("/registry/households", headers=dci.admin, json={
            "area_code": WARD, "address": "Ward 8, house 9",
            "members": [{"full_name": "Rina Begum", "sex": "female", "role": "head"}]})
        assert r.status_code == 201, r.text
        [notify] = await dci.callbacks.wait_for(f"{path}/notify")
        validate(notify["message"], "schemas/NotifyEventRequest")
        assert [r["demographic_info"]["name"]["given_name"]
                for r in notify["message"]["notify_event"][0]["data"]["reg_records"]] == ["Rina Begum"]
        unsubscribe = {"transaction_id": "T-UNSUB", "timestamp": "2026-12-07T10:05:00+06:00",
                       "subscription_codes": [info["code"]]}
        await _ack(http, "/registry/unsubscribe", sender.envelope("unsubscribe", unsubscribe), auth)
    [on_unsub] = await dci.callbacks.wait_for(f"{path}/on-unsubscribe")
    validate(on_unsub["message"], "schemas/UnSubscribeResponse")
    assert on_unsub["message"]["subscription_status"] == [{"code": info["code"], "status": "unsubscribe"}]


async def _err(http: httpx.AsyncClient, path: str, status: int, **kwargs: Any) -> str:
    r = await http.post(path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json", r.headers
    validate_ack(r.json())
    assert r.json()["message"]["ack_status"] == "ERR"
    return str(r.json()["message"]["error"]["code"])


async def test_negative_cases_answer_the_dci_error_ack(dci: Dci) -> None:
    sender, auth = await dci.sender()
    _, other_auth = await dci.sender()
    good = [search_item("R-1", "idtype-value", {"type": "BRN", "value": brn(1960, 11)})]
    url = "/registry/sync/search"
    async with dci.http() as http:
        # Refused by the gateway: no credentials, or a client without a DCI scope.
        assert await _err(http, url, 401, json=_search(sender, good)) == "err.request.unauthorized"
        stranger = await provision_client(f"t-{uuid.uuid4().hex[:8]}", ["benefits:read"], settings=dci.settings)
        assert await _err(http, "/registry/subscribe", 403, json=_search(sender, good),
                          headers={"X-API-Key": stranger.api_key}) == "err.request.forbidden"
        # Refused by the registry.
        assert await _err(http, url, 400, content=b"{not json", headers=auth | {
            "content-type": "application/json"}) == "err.request.bad"
        deep = b"[" * 5000 + b"]" * 5000
        assert await _err(http, url, 400, content=deep, headers=auth | {"content-type": "application/json"}) == (
            "err.request.bad")
        unsigned = _search(sender, good)
        del unsigned["signature"]
        assert await _err(http, url, 401, json=unsigned, headers=auth) == "err.signature.missing"
        tampered = copy.deepcopy(_search(sender, good))
        tampered["message"]["transaction_id"] = "T-other"
        assert await _err(http, url, 401, json=tampered, headers=auth) == "err.signature.invalid"
        assert await _err(http, url, 403, json=_search(sender, good), headers=other_auth) == "err.sender_id.invalid"
        assert await _err(http, url, 400, json=_search(sender, good, receiver_id="someone-else"),
                          headers=auth) == "err.receiver_id.invalid"
        assert await _err(http, url, 400, json=_search(sender, good, version="9.9.9"),
                          headers=auth) == "err.version.not_supported"
        assert await _err(http, url, 400, json=_search(sender, good, total_count=4), headers=auth) == (
            "err.request.bad")
        assert await _err(http, "/registry/search", 400, headers=auth,
                          json=_search(sender, good, sender_uri="http://169.254.169.254/latest")) == (
            "err.sender_uri.invalid")
        # Items the registry cannot answer are rejected one by one, the message still succeeds.
        r = await http.post(url, headers=auth, json=_search(sender, [
            search_item("R-bad", "idtype-value", {"type": "PASSPORT", "value": "X1"})]))
        assert r.json()["message"]["search_response"][0]["status"] == "rjct"
        # The rest of the API keeps problem+json.
        r = await http.get("/registry/areas/XX-1", headers=dci.admin)
        assert r.headers["content-type"] == "application/problem+json"


async def test_a_sender_without_keys_is_served_unsigned_and_each_transaction_says_so(
        dci: Dci, database_url: str) -> None:
    sender, auth = await dci.sender(require_signature=False)
    envelope = _search(sender, [search_item("R-1", "idtype-value", {"type": "BRN", "value": brn(1960, 11)})])
    envelope["signature"] = "anything: it is not verified for this sender"
    async with dci.http() as http:
        r = await http.post("/registry/sync/search", json=envelope, headers=auth)
        assert r.status_code == 200, r.text
        # A sender onboarded with keys still needs signatures; onboarding without keys needs the flag.
        r = await http.put(f"/registry/dci/senders/{sender.sender_id}", headers=dci.admin,
                           json={"client_id": sender.client_id, "name": "x", "public_keys": []})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "public_keys"
    conn = await asyncpg.connect(database_url)
    try:
        unsigned = await conn.fetchval("SELECT bool_and(accepted_unsigned) FROM registry.dci_transaction "
                                       "WHERE sender_id = $1", sender.sender_id)
    finally:
        await conn.close()
    assert unsigned is True


def test_unsigned_senders_need_the_operators_switch_outside_development() -> None:
    from services.registry.settings_dci import DciSettings

    assert DciSettings().unsigned_allowed("development")
    assert not DciSettings().unsigned_allowed("production")
    assert not DciSettings().unsigned_allowed("staging")
    assert DciSettings(allow_unsigned_senders=True).unsigned_allowed("production")


# ---------------------------------------------------------------- found by the independent suite
# OpenSPP/spdci-compliance run against the gateway (docs/dci.md, "Independent conformance run").


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_message_not_sent_as_json_is_refused_with_415(dci: Dci, content_type: str | None) -> None:
    """The suite's "API requires Content-Type header": a DCI body without a JSON media type answered 200,
    and skipped the request guards, so a NUL in header.message_id reached PostgreSQL (500, problem+json)."""
    sender, auth = await dci.sender(require_signature=False)
    good = [search_item("R-1", "idtype-value", {"type": "BRN", "value": brn(1960, 11)})]
    headers = auth | ({"content-type": content_type} if content_type else {})
    async with dci.http() as http:
        for path in ("/registry/sync/search", "/registry/search", "/registry/subscribe", "/registry/unsubscribe",
                     "/registry/txn/status", "/registry/sync/txn/status"):
            body = json.dumps(_search(sender, good)).encode()
            r = await http.post(path, content=body, headers=headers)  # raw content: no content-type added
            assert r.status_code == 415, (path, r.status_code, r.text)
            assert r.headers["content-type"] == "application/json"
            validate_ack(r.json())
            assert r.json()["message"]["error"]["code"] == "err.request.bad"
        # A NUL never reaches PostgreSQL, whatever the media type: refused as the DCI error ack (a body
        # sent with no type is checked by the guards too, since FastAPI would parse it as JSON).
        envelope = _search(sender, good, message_id=f"m-\u0000-{uuid.uuid4().hex[:6]}")
        r = await http.post("/registry/sync/search", content=json.dumps(envelope).encode(), headers=headers)
        assert r.status_code in (400, 415) and r.json()["message"]["error"]["code"] == "err.request.bad", r.text
        assert await _err(http, "/registry/sync/search", 400, json=envelope, headers=auth) == "err.request.bad"


async def test_subscription_codes_longer_than_the_specs_99_characters_are_refused(dci: Dci) -> None:
    """The suite's "Unsubscribe rejects subscription_code exceeding max length" (SubscriptionCode maxLength 99)."""
    sender, auth = await dci.sender(require_signature=False)

    def unsubscribe(code: str) -> dict[str, Any]:
        return sender.envelope("unsubscribe", {"transaction_id": f"T-{uuid.uuid4().hex[:8]}",
                                               "timestamp": "2026-12-07T10:05:00+06:00", "subscription_codes": [code]},
                               sign=False)

    async with dci.http() as http:
        assert await _err(http, "/registry/unsubscribe", 400, json=unsubscribe("s" * 100), headers=auth) == (
            "err.request.bad")
        await _ack(http, "/registry/unsubscribe", unsubscribe("s" * 99), auth)
    [reply] = await dci.callbacks.wait_for(f"/dci/{sender.sender_id}/on-unsubscribe")
    validate(reply["message"], "schemas/UnSubscribeResponse")
    assert reply["message"]["status"] == "rjct"  # no such subscription: answered, not refused


async def test_a_sender_uri_naming_the_callback_endpoint_itself_is_called_there(dci: Dci) -> None:
    """The suite (and the spec's example) send ``sender_uri: https://…/registry/on-search``: the callback
    goes to that URL, not to ``…/on-search/on-search``; the same for each reply action."""
    sender, auth = await dci.sender(require_signature=False)
    base = f"{dci.callbacks.base}/dci/{sender.sender_id}/registry"
    good = [search_item("R-1", "idtype-value", {"type": "BRN", "value": brn(1960, 11)})]
    status = {"transaction_id": "T-S2", "txnstatus_request": {
        "reference_id": "S-2", "txn_type": "search", "attribute_type": "transaction_id", "attribute_value": "T-S2"}}
    async with dci.http() as http:
        await _ack(http, "/registry/search", _search(sender, good, sender_uri=f"{base}/on-search", sign=False), auth)
        await _ack(http, "/registry/txn/status",
                   sender.envelope("txn-status", status, sender_uri=f"{base}/txn/on-status", sign=False), auth)
    [reply] = await dci.callbacks.wait_for(f"/dci/{sender.sender_id}/registry/on-search")
    validate(reply["message"], "schemas/SearchResponse")
    [on_status] = await dci.callbacks.wait_for(f"/dci/{sender.sender_id}/registry/txn/on-status")
    validate(on_status["message"], "schemas/TxnStatusResponse")
