"""What every service does at its HTTP edge: identity, problems, request ids, health, metrics."""

import time

from kernel.auth import IDENTITY_HEADER, SIGNATURE_HEADER, Identity, sign_identity
from tests.conftest import identity_headers


async def test_missing_identity_is_401_problem(registry_client):
    r = await registry_client.get("/areas/IN")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401


async def test_forged_identity_is_rejected(registry_client, admin_headers):
    forged = dict(admin_headers)
    forged[IDENTITY_HEADER] = forged[IDENTITY_HEADER][:-4] + "AAAA"
    r = await registry_client.get("/areas", headers=forged)
    assert r.status_code == 401

    signed_elsewhere = sign_identity(
        Identity(subject="mallory", kind="user", scopes=["*"], area_scope=["IN"]), "not-the-gateway-secret"
    )
    r = await registry_client.get("/areas", headers=signed_elsewhere)
    assert r.status_code == 401


async def test_expired_identity_is_rejected(registry_client):
    from kernel.settings import get_settings

    stale = Identity(subject="u", kind="user", scopes=["*"], area_scope=["IN"], expires_at=time.time() - 1)
    r = await registry_client.get("/areas", headers=sign_identity(stale, get_settings().identity_secret))
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


async def test_missing_scope_is_403(registry_client):
    r = await registry_client.post(
        "/areas", json={"code": "IN-23", "name": "MP"}, headers=identity_headers(scopes=["registry:read"])
    )
    assert r.status_code == 403
    assert "registry:write" in r.json()["detail"]


async def test_other_area_is_hidden_not_leaked(registry_client, admin_headers):
    for code, name in (("BD-40", "Khulna"), ("BD-40-87", "Satkhira"), ("BD-40-87-90", "Tala"),
                       ("BD-40-87-90-54", "Nagarghata"), ("BD-40-87-90-54-08", "Ward 8"),
                       ("BD-40-87-90-54-07", "Ward 7")):
        r = await registry_client.post("/areas", json={"code": code, "name": name}, headers=admin_headers)
        assert r.status_code == 201, r.text
    volunteer = identity_headers(roles=["e-volunteer"], scopes=["registry:read"], area_scope=["BD-40-87-90-54-08"])
    assert (await registry_client.get("/areas/BD-40-87-90-54-08", headers=volunteer)).status_code == 200
    other = await registry_client.get("/areas/BD-40-87-90-54-07", headers=volunteer)
    assert other.status_code == 404  # same answer as "does not exist": no probing of other wards
    listing = await registry_client.get("/areas", params={"parent": "BD-40-87-90-54"}, headers=volunteer)
    assert [a["code"] for a in listing.json()["items"]] == ["BD-40-87-90-54-08"]


async def test_validation_error_names_the_field(registry_client, admin_headers):
    r = await registry_client.post("/areas", json={"code": "IN-ab", "name": ""}, headers=admin_headers)
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in body["errors"]}
    assert {"body.code", "body.name"} <= fields


async def test_malformed_json_is_a_problem_not_a_crash(registry_client, admin_headers):
    r = await registry_client.post(
        "/areas", content=b"{not json", headers={**admin_headers, "content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["type"].endswith("validation-error")


async def test_unknown_parent_and_duplicate(registry_client, admin_headers):
    r = await registry_client.post("/areas", json={"code": "IN-23-0456", "name": "X"}, headers=admin_headers)
    assert r.status_code == 422 and "Parent area IN-23" in r.json()["detail"]
    assert (await registry_client.post("/areas", json={"code": "IN-23", "name": "MP"}, headers=admin_headers)).status_code == 201
    r = await registry_client.post("/areas", json={"code": "IN-23", "name": "MP"}, headers=admin_headers)
    assert r.status_code == 409


async def test_request_id_is_echoed_and_minted(registry_client):
    r = await registry_client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await registry_client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"]) == 32


async def test_health_ready_and_metrics(registry_client, admin_headers):
    assert (await registry_client.get("/healthz")).json()["status"] == "ok"
    ready = await registry_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True, "nats": True}
    await registry_client.get("/areas/IN-99", headers=admin_headers)
    metrics = (await registry_client.get("/metrics")).text
    assert 'gramsetu_http_requests_total{method="GET",route="/areas/{code}",service="registry",status="404"}' in metrics
    assert "IN-99" not in metrics  # route templates, never ids, in labels


async def test_identity_headers_must_come_in_pairs(registry_client, admin_headers):
    r = await registry_client.get("/areas", headers={IDENTITY_HEADER: admin_headers[IDENTITY_HEADER]})
    assert r.status_code == 401
    r = await registry_client.get("/areas", headers={SIGNATURE_HEADER: "00"})
    assert r.status_code == 401
