"""DCI sync search: the three query types, pagination, scope, identifier disclosure; ERR acks; txn status."""

from __future__ import annotations

import copy

import asyncpg
import pytest

from services.registry.service.dci_signing import SignatureError
from tests.registry.conftest import OTHER_WARD, WARD, brn, create_household, household, member, volunteer
from tests.registry.dci_support import (
    Sender,
    onboard,
    search_item,
    validate,
    validate_ack,
    verify_reply,
)

SENDER = Sender("dept-social-welfare", "cli_social")
ALLOW = ["http://127.0.0.1:9/dci/"]


async def _people(client) -> dict[str, str]:
    await create_household(client, household(members=[
        member("Amena Khatun", "female", "head", birth_date="1960-03-01",
               identifiers=[{"type": "bd_brn", "value": brn(1960, 11)}]),
        member("Rumi Begum", "female", "child", birth_date="2001-05-01"),
        member("Karim Uddin", "male", "spouse", birth_date="1955-01-01"),
    ]))
    await create_household(client, household(members=[
        member("Sumi Akter", "female", "head", birth_date="1990-07-07", disability="hearing"),
    ]))
    await create_household(client, household(area=OTHER_WARD, members=[
        member("Hidden Person", "female", "head", birth_date="1980-02-02",
               identifiers=[{"type": "bd_brn", "value": brn(1980, 22)}]),
    ]), headers=volunteer(OTHER_WARD))
    return {"amena": brn(1960, 11), "hidden": brn(1980, 22)}


async def _sync(client, items, headers=None, sender=SENDER):
    env = sender.envelope("search", {"transaction_id": "T-1", "search_request": items}, total_count=len(items))
    return await client.post("/registry/sync/search", json=env, headers=headers or sender.headers())


async def test_sync_search_by_idtype_expression_predicate(client, database_url):
    ids = await _people(client)
    assert (await onboard(client, SENDER, ALLOW)).status_code == 200
    items = [
        search_item("R-id", "idtype-value", {"type": "BRN", "value": ids["amena"]}),
        search_item("R-hidden", "idtype-value", {"type": "BRN", "value": ids["hidden"]}),
        search_item("R-expr", "expression", {"type": "ns:org:QueryType:expression", "value": {"expression": {
            "collection": "Member", "query": {"$and": [{"sex": {"$eq": "female"}}, {"age": {"$gte": 18}}]}}}},
            sort=[{"attribute_name": "birth_date", "sort_order": "asc"}]),
        search_item("R-pred", "predicate", [
            {"seq_num": 1, "expression1": {"attribute_name": "YOB", "operator": "lt", "attribute_value": "1995"},
             "condition": "and",
             "expression2": {"attribute_name": "area_code", "operator": "eq", "attribute_value": WARD}}],
            pagination={"page_size": 2, "page_number": 2}, sort=[{"attribute_name": "birth_date"}]),
        search_item("R-group", "predicate", [
            {"expression1": {"attribute_name": "is_disabled", "operator": "eq", "attribute_value": True}}],
            response_entity="Group"),
    ]
    r = await _sync(client, items)
    assert r.status_code == 200, r.text
    body = r.json()
    validate(body["message"], "schemas/SearchResponse")
    validate(body["header"], "schemas/MsgCallbackHeader_V1.0.0")
    assert body["header"]["action"] == "on-search" and body["header"]["status"] == "succ"
    await verify_reply(client, body)
    results = {i["reference_id"]: i for i in body["message"]["search_response"]}
    assert all(i["status"] == "succ" for i in results.values()), results

    amena = results["R-id"]["data"]["reg_records"]
    assert [m["demographic_info"]["name"]["given_name"] for m in amena] == ["Amena Khatun"]
    brn_ids = [i for i in amena[0]["demographic_info"]["identifier"] if i["identifier_type"] == "BRN"]
    assert brn_ids == [{"@type": "Identifier", "identifier_type": "BRN",
                        "identifier_value": "XXXX XXXX " + ids["amena"][-4:]}]  # masked without the scope
    assert amena[0]["@id"].startswith("urn:gramsetu:registry:person:")
    # A person outside the caller's area is invisible, never "found elsewhere".
    assert results["R-hidden"]["data"]["reg_records"] == []
    assert results["R-hidden"]["pagination"]["total_count"] == 0

    expr = results["R-expr"]
    assert [m["demographic_info"]["name"]["given_name"] for m in expr["data"]["reg_records"]] == [
        "Amena Khatun", "Sumi Akter", "Rumi Begum"]
    # YOB < 1995 in the ward: Karim 1955, Amena 1960, Sumi 1990 -> page 2 of size 2 holds Sumi.
    pred = results["R-pred"]
    assert pred["pagination"] == {"page_size": 2, "page_number": 2, "total_count": 3}
    assert [m["demographic_info"]["name"]["given_name"] for m in pred["data"]["reg_records"]] == ["Sumi Akter"]
    group = results["R-group"]["data"]["reg_records"]
    assert len(group) == 1 and group[0]["group_size"] == 1 and group[0]["group_head_info"]["is_disabled"] is True

    conn = await asyncpg.connect(database_url)
    try:
        audited = await conn.fetchval("SELECT count(*) FROM registry.audit_event WHERE action = 'dci.search'")
    finally:
        await conn.close()
    assert audited == 1 + 3 + 1 + 1  # each record returned (page 2 holds one), none for the invisible one


async def test_identifier_scope_discloses_values(client):
    ids = await _people(client)
    await onboard(client, SENDER, ALLOW)
    r = await _sync(client, [search_item("R-1", "idtype-value", {"type": "brn", "value": ids["amena"]})],
                    headers=SENDER.headers(scopes=["registry:read", "registry:identifiers"]))
    record = r.json()["message"]["search_response"][0]["data"]["reg_records"][0]
    assert {"@type": "Identifier", "identifier_type": "BRN", "identifier_value": ids["amena"]} in (
        record["demographic_info"]["identifier"])


async def test_rejected_items_and_err_acks(client):
    await onboard(client, SENDER, ALLOW)
    bad_items = [
        search_item("R-type", "idtype-value", {"type": "PASSPORT", "value": "X1"}),
        search_item("R-attr", "expression", {"value": {"expression": {"query": {"salary": {"$gt": 5}}}}}),
        search_item("R-page", "predicate", [{"expression1": {"attribute_name": "age", "operator": "gt",
                                                             "attribute_value": 5}}],
                    pagination={"page_size": 0}),
        search_item("R-sort", "predicate", [{"expression1": {"attribute_name": "age", "operator": "gt",
                                                             "attribute_value": 5}}],
                    sort=[{"attribute_name": "poverty_score"}]),
    ]
    r = await _sync(client, bad_items)
    assert r.status_code == 200, r.text
    validate(r.json()["message"], "schemas/SearchResponse")
    codes = {i["reference_id"]: i["status_reason_code"] for i in r.json()["message"]["search_response"]}
    assert codes == {"R-type": "rjct.search_criteria.invalid", "R-attr": "rjct.search_criteria.invalid",
                     "R-page": "rjct.pagination.invalid", "R-sort": "rjct.sort.invalid"}

    good = {"transaction_id": "T-2", "search_request": [search_item("R-1", "idtype-value",
                                                                    {"type": "BRN", "value": "1"})]}

    async def err(body, headers=None, content=None):
        if content is not None:
            resp = await client.post("/registry/sync/search", content=content, headers=SENDER.headers() if headers is None else headers)
        else:
            resp = await client.post("/registry/sync/search", json=body, headers=SENDER.headers() if headers is None else headers)
        assert 400 <= resp.status_code < 500, resp.text
        assert resp.headers["content-type"] == "application/json"  # DCI clients parse JSON only
        assert set(resp.json()) == {"message"}
        validate_ack(resp.json())
        assert resp.json()["message"]["ack_status"] == "ERR"
        return resp.json()["message"]["error"]["code"]

    assert await err(None, content=b"{not json") == "err.request.bad"
    no_id = SENDER.envelope("search", good)
    del no_id["header"]["message_id"]
    assert await err(no_id) == "err.request.bad"
    assert await err(SENDER.envelope("search", good, total_count=3)) == "err.request.bad"
    assert await err(SENDER.envelope("subscribe", good)) == "err.request.bad"  # action does not fit the endpoint
    assert await err(SENDER.envelope("search", good, version="2.0.0")) == "err.version.not_supported"
    assert await err(SENDER.envelope("search", good, receiver_id="someone-else")) == "err.receiver_id.invalid"
    assert await err(SENDER.envelope("search", good, is_msg_encrypted=True)) == "err.encryption.invalid"
    assert await err(SENDER.envelope("search", good, sign=False)) == "err.signature.missing"
    tampered = copy.deepcopy(SENDER.envelope("search", good))
    tampered["message"]["transaction_id"] = "T-other"
    assert await err(tampered) == "err.signature.invalid"
    stranger = Sender("dept-unknown", "cli_unknown")
    assert await err(stranger.envelope("search", good), headers=stranger.headers()) == "err.sender_id.invalid"
    # Another OAuth2 client cannot speak as this sender.
    assert await err(SENDER.envelope("search", good), headers=stranger.headers()) == "err.sender_id.invalid"
    assert await err(SENDER.envelope("search", good), headers={}) == "err.request.unauthorized"
    assert await err(SENDER.envelope("search", good), headers=SENDER.headers(scopes=["benefits:read"])) == (
        "err.request.forbidden")


async def test_sync_txn_status(client):
    await onboard(client, SENDER, ALLOW)
    env = SENDER.envelope("search", {"transaction_id": "T-77", "search_request": [
        search_item("R-a", "predicate", [{"expression1": {"attribute_name": "sex", "operator": "eq",
                                                          "attribute_value": "female"}}]),
        search_item("R-b", "idtype-value", {"type": "TAX", "value": "1"})]}, total_count=2)
    assert (await client.post("/registry/sync/search", json=env, headers=SENDER.headers())).status_code == 200

    async def status(attribute_type, value, sender=SENDER):
        message = {"transaction_id": "T-status", "txnstatus_request": {
            "reference_id": "S-1", "txn_type": "search", "attribute_type": attribute_type, "attribute_value": value}}
        r = await client.post("/registry/sync/txn/status", json=sender.envelope("txn-status", message),
                              headers=sender.headers())
        assert r.status_code == 200, r.text
        validate(r.json()["message"], "schemas/TxnStatusResponse")
        assert r.json()["header"]["action"] == "txn-on-status"
        return r.json()["message"]["txnstatus_response"]["txn_status"]

    found = await status("transaction_id", "T-77")
    assert found["transaction_id"] == "T-77"
    assert {i["reference_id"]: i["status"] for i in found["search_response"]} == {"R-a": "succ", "R-b": "rjct"}
    by_ref = await status("reference_id_list", ["R-b"])
    assert [i["reference_id"] for i in by_ref["search_response"]] == ["R-b"]
    missing = await status("transaction_id", "T-none")
    assert missing["search_response"][0]["status_reason_code"] == "rjct.reference_id.invalid"
    other = Sender("dept-health", "cli_health")
    await onboard(client, other, ALLOW)
    # Another sender's transactions are not visible.
    assert (await status("transaction_id", "T-77", sender=other))["search_response"][0]["status"] == "rjct"


def test_signature_rejects_expired_and_future() -> None:
    header, message = {"a": 1}, {"b": "বাংলা"}
    sender = Sender("s", "c")
    keys = [sender.jwk()]
    from services.registry.service import dci_signing

    old = dci_signing.sign(header, message, sender.key, sender_id="s", key_id=sender.key_id, now=1000)
    with pytest.raises(SignatureError):
        dci_signing.verify(old, header, message, keys, sender_id="s", now=1000 + 301)
    dci_signing.verify(old, header, message, keys, sender_id="s", now=1000 + 299)
    future = dci_signing.sign(header, message, sender.key, sender_id="s", key_id=sender.key_id, now=2000)
    with pytest.raises(SignatureError):
        dci_signing.verify(future, header, message, keys, sender_id="s", now=2000 - 61)
    dci_signing.verify("Signature: " + future.replace('"dci"', '"spdci"'), header, message, keys, sender_id="s",
                       now=2000)
