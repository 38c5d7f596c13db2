"""OWASP API Security Top 10 (2023) items that apply to the gateway, as tests against real servers."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.config import Limit
from kernel.auth import Identity, sign_identity
from tests.gateway.conftest import Stack


async def test_missing_credentials_are_refused(stack: Stack) -> None:  # API2
    async with stack.client() as http:
        r = await http.get("/registry/areas/IN-23")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert "www-authenticate" in r.headers
    assert r.headers["x-request-id"]


async def test_unknown_api_key_is_refused(stack: Stack) -> None:  # API2
    async with stack.client(**{"X-API-Key": "gsk_not-a-real-key"}) as http:
        r = await http.get("/registry/areas/IN-23")
    assert r.status_code == 401


async def test_valid_key_reads_through_the_gateway(stack: Stack) -> None:
    client = await stack.new_client(["registry:read"], ["IN-23"])
    async with stack.client(**{"X-API-Key": client["api_key"], "X-Request-ID": "trace-123"}) as http:
        r = await http.get("/registry/areas/IN-23")
    assert r.status_code == 200, r.text
    assert r.json()["code"] == "IN-23"
    assert r.headers["x-request-id"] == "trace-123"
    assert int(r.headers["ratelimit-limit"]) > 0
    assert "ratelimit-remaining" in r.headers and "ratelimit-reset" in r.headers


async def test_scope_escalation_is_refused(stack: Stack) -> None:  # API5: function-level authorisation
    reader = await stack.new_client(["registry:read"])
    async with stack.client(**{"X-API-Key": reader["api_key"]}) as http:
        r = await http.post("/registry/areas", json={"code": "IN-24", "name": "Escalated"})
        assert r.status_code == 403
        assert "registry:write" in r.json()["detail"]
        r = await http.get("/benefits/anything")  # a service the client has no scope for
        assert r.status_code == 403


async def test_a_key_of_another_client_carries_that_clients_identity_only(stack: Stack) -> None:  # API1/API2
    ward_a = await stack.new_client(["registry:read"], ["IN-23-0456"])
    ward_b = await stack.new_client(["registry:read"], ["IN-23-0457"])
    async with stack.client(**{"X-API-Key": ward_a["api_key"]}) as http:
        assert (await http.get("/registry/areas/IN-23-0456")).status_code == 200
        assert (await http.get("/registry/areas/IN-23-0457")).status_code == 404
    # Sending B's client id alongside A's key changes nothing: the key alone decides who you are.
    headers = {"X-API-Key": ward_a["api_key"], "X-Client-Id": ward_b["client_id"]}
    async with stack.client(**headers) as http:
        assert (await http.get("/registry/areas/IN-23-0457")).status_code == 404


async def test_ward_a_volunteer_cannot_read_ward_b(stack: Stack) -> None:  # API1 (BOLA)
    username, password = await stack.new_user(["e_volunteer"], ["IN-23-0456"])
    async with stack.client() as http:
        r = await http.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        own = await http.get("/registry/areas/IN-23-0456", headers=auth)
        assert own.status_code == 200, own.text
        other = await http.get("/registry/areas/IN-23-0457", headers=auth)
        assert other.status_code == 404
        listed = await http.get("/registry/areas", headers=auth, params={"parent": "IN-23"})
        assert [a["code"] for a in listed.json()["items"]] == ["IN-23-0456"]


async def test_wrong_password_and_unknown_user_look_the_same(stack: Stack) -> None:  # API2
    username, _ = await stack.new_user(["auditor"], ["IN"])
    async with stack.client() as http:
        wrong = await http.post("/auth/login", json={"username": username, "password": "not-the-password"})
        unknown = await http.post("/auth/login", json={"username": "nobody-here", "password": "whatever-pass"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_login_attempts_are_throttled_per_account(stack: Stack) -> None:  # API2/API4
    username, password = await stack.new_user(["auditor"], ["IN"])
    default = stack.config.login_limit
    stack.config.login_limit = Limit(per_minute=0.01, capacity=5)  # no refill while argon2 runs slowly
    try:
        async with stack.client() as http:
            codes = [(await http.post("/auth/login", json={"username": username, "password": "bad-password-x"}))
                     .status_code for _ in range(6)]
            assert codes == [401] * 5 + [429]
            r = await http.post("/auth/login", json={"username": username, "password": password})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        stack.config.login_limit = default


async def test_forged_and_expired_tokens_are_refused(stack: Stack) -> None:  # API2
    client = await stack.new_client(["registry:read"])
    state = stack.app.state.gateway
    key = state.identity.active_key
    now = int(time.time())
    claims = {"iss": stack.config.issuer, "aud": stack.config.audience, "sub": client["client_id"], "iat": now - 100,
              "exp": now - 30, "kind": "client", "scope": "registry:read", "area_scope": ["IN"],
              "client_id": client["client_id"]}
    expired = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims | {"exp": now + 600, "scope": "*"}, attacker, algorithm="RS256",
                        headers={"kid": key.kid})
    unsigned = jwt.encode(claims | {"exp": now + 600}, None, algorithm="none")  # type: ignore[arg-type]
    hs = jwt.encode(claims | {"exp": now + 600}, "guess", algorithm="HS256", headers={"kid": key.kid})
    async with stack.client() as http:
        for token, reason in [(expired, "expired"), (forged, "forged"), (unsigned, "forged"), (hs, "forged"),
                              ("not.a.jwt", "forged")]:
            r = await http.get("/registry/areas/IN-23", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (reason, r.text)
            assert r.json().get("reason") == reason


async def test_forged_identity_headers_are_stripped(stack: Stack) -> None:  # API2/API5
    narrow = await stack.new_client(["registry:read"], ["IN-23-0456"])
    # A correctly signed context for an all-powerful caller, as if the secret had leaked to a caller:
    # the gateway must replace it with its own, so it grants nothing.
    god = sign_identity(Identity(subject="attacker", kind="user", roles=["admin"], scopes=["*"],
                                 area_scope=["IN"]), stack.settings.identity_secret)
    headers = {"X-API-Key": narrow["api_key"], **god, "X-Forwarded-For": "10.9.9.9", "Forwarded": "for=10.9.9.9"}
    async with stack.client(**headers) as http:
        r = await http.get("/registry/areas/IN-23-0457")
        assert r.status_code == 404
        r = await http.post("/registry/areas", json={"code": "IN-23-0458", "name": "x"})
        assert r.status_code == 403
    # Without any gateway credential, the forged context alone gets nowhere.
    async with stack.client(**god) as http:
        assert (await http.get("/registry/areas/IN-23")).status_code == 401


async def test_oversized_body_gets_413(stack: Stack) -> None:  # API4
    writer = await stack.new_client(["registry:write"])
    big = json.dumps({"code": "IN-25", "name": "x" * (stack.config.max_body_bytes + 10)})
    async with stack.client(**{"X-API-Key": writer["api_key"]}) as http:
        r = await http.post("/registry/areas", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"

        async def chunks():  # no Content-Length: the limit holds for chunked bodies too
            for _ in range(20):
                yield b"x" * 65536

        r = await http.post("/registry/areas", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413


async def test_slow_body_is_cut_off(stack: Stack) -> None:  # API4: slowloris
    writer = await stack.new_client(["registry:write"])
    host, port = stack.gateway_url.removeprefix("http://").split(":")
    reader, writer_stream = await asyncio.open_connection(host, int(port))
    head = (f"POST /registry/areas HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {writer['api_key']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    writer_stream.write(head.encode())
    await writer_stream.drain()
    started = time.monotonic()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    assert b" 408 " in status_line
    assert time.monotonic() - started < stack.config.body_timeout_seconds + 2
    writer_stream.close()


async def test_internal_endpoints_are_not_exposed(stack: Stack) -> None:  # API8/API9
    admin = await stack.new_client(["*"])
    async with stack.client(**{"X-API-Key": admin["api_key"]}) as http:
        for path in ["/registry/metrics", "/registry/readyz", "/registry/openapi.json", "/registry/docs",
                     "/registry/%2e%2e/metrics", "/registry/areas/%2e%2e/%2e%2e/metrics"]:
            r = await http.get(path)
            assert r.status_code == 404, path


async def test_paths_cannot_redirect_the_upstream(stack: Stack) -> None:  # API7: SSRF
    admin = await stack.new_client(["*"])
    async with stack.client(**{"X-API-Key": admin["api_key"]}) as http:
        r = await http.get("/registry//127.0.0.1:9/areas")
        assert r.status_code == 404  # answered by the registry itself, not fetched elsewhere
        r = await http.get("/registry/@127.0.0.1:9/areas")
        assert r.status_code == 404


async def test_down_upstream_gives_502_then_opens_the_circuit(stack: Stack) -> None:  # API10 / resilience
    client = await stack.new_client(["benefits:read"])
    async with stack.client(**{"X-API-Key": client["api_key"]}) as http:
        codes = [(await http.get("/benefits/schemes")).status_code
                 for _ in range(stack.config.breaker_failure_threshold)]
        assert set(codes) <= {502, 503} and codes[0] == 502
        r = await http.get("/benefits/schemes")
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1


async def test_revocation_stops_keys_and_tokens(stack: Stack) -> None:
    client = await stack.new_client(["registry:read"])
    async with stack.client() as http:
        r = await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(client["client_id"], client["client_secret"]))
        token = r.json()["access_token"]
        assert (await http.get("/registry/areas/IN-23", headers={"X-API-Key": client["api_key"]})).status_code == 200
        admin = await stack.new_client(["gateway:admin"])
        r = await http.post(f"/admin/clients/{client['client_id']}/revoke", headers={"X-API-Key": admin["api_key"]})
        assert r.status_code == 200, r.text
        assert (await http.get("/registry/areas/IN-23", headers={"X-API-Key": client["api_key"]})).status_code == 401
        r = await http.get("/registry/areas/IN-23", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        r = await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(client["client_id"], client["client_secret"]))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_rotation_overlap(stack: Stack) -> None:
    client = await stack.new_client(["registry:read"])
    admin = await stack.new_client(["gateway:admin"])
    async with stack.client() as http:
        r = await http.post(f"/admin/clients/{client['name']}/rotate", json={"overlap_seconds": 2},
                            headers={"X-API-Key": admin["api_key"]})
        assert r.status_code == 200, r.text
        new_key = r.json()["api_key"]
        for key in (client["api_key"], new_key):  # both work during the overlap
            assert (await http.get("/registry/areas/IN-23", headers={"X-API-Key": key})).status_code == 200
        await asyncio.sleep(2 + stack.config.credential_cache_seconds + 0.2)
        assert (await http.get("/registry/areas/IN-23", headers={"X-API-Key": client["api_key"]})).status_code == 401
        assert (await http.get("/registry/areas/IN-23", headers={"X-API-Key": new_key})).status_code == 200


async def test_admin_api_is_admin_only(stack: Stack) -> None:  # API5
    plain = await stack.new_client(["registry:read", "registry:write"])
    async with stack.client(**{"X-API-Key": plain["api_key"]}) as http:
        assert (await http.get("/admin/clients")).status_code == 403
        r = await http.post("/admin/clients", json={"name": "sneaky", "scopes": ["*"]})
        assert r.status_code == 403
    async with stack.client() as http:
        assert (await http.get("/admin/users")).status_code == 401


@pytest.mark.parametrize("origin,allowed", [("https://portal.example.org", True), ("https://evil.example", False)])
async def test_cors_is_per_client(stack: Stack, origin: str, allowed: bool) -> None:  # API8
    client = await stack.new_client(["registry:read"], cors_origins=["https://portal.example.org"])
    async with stack.client(Origin=origin) as http:
        pre = await http.options("/registry/areas/IN-23", headers={"Access-Control-Request-Method": "GET"})
        r = await http.get("/registry/areas/IN-23", headers={"X-API-Key": client["api_key"]})
    assert r.status_code == 200
    assert (pre.headers.get("access-control-allow-origin") == origin) is allowed
    assert (r.headers.get("access-control-allow-origin") == origin) is allowed


async def test_request_smuggling_style_headers_do_not_reach_the_upstream(stack: Stack) -> None:
    """A raw request with a bogus identity header and Basic auth: still only the key counts."""
    client = await stack.new_client(["registry:read"], ["IN-23-0456"])
    bogus = base64.b64encode(b"x:y").decode()
    host, port = stack.gateway_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"GET /registry/areas/IN-23-0457 HTTP/1.1\r\nHost: x\r\nX-API-Key: {client['api_key']}\r\n"
                  f"X-GramSetu-Identity: e30\r\nX-GramSetu-Identity-Signature: 00\r\n"
                  f"Proxy-Authorization: Basic {bogus}\r\nConnection: close\r\n\r\n").encode())
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert data.startswith(b"HTTP/1.1 404")
