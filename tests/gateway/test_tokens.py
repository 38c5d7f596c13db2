"""OAuth2 client credentials (RFC 6749 §4.4), JWKS, operator logins, signing-key rotation."""

from __future__ import annotations

import jwt
import pytest

from tests.gateway.conftest import Stack


async def _jwks_key(http, token: str):  # type: ignore[no-untyped-def]
    jwks = (await http.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    return jwt.PyJWK(jwk).key


async def test_client_credentials_flow_end_to_end(stack: Stack) -> None:
    client = await stack.new_client(["registry:read", "registry:write"], ["IN-23"])
    async with stack.client() as http:
        r = await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(client["client_id"], client["client_secret"]))
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 3600
        token = body["access_token"]
        # The JWKS alone verifies it (what a DCI partner or another service would do).
        claims = jwt.decode(token, await _jwks_key(http, token), algorithms=["RS256"],
                            audience=stack.config.audience, issuer=stack.config.issuer)
        assert claims["sub"] == client["client_id"] and claims["area_scope"] == ["IN-23"]
        r = await http.get("/registry/areas/IN-23", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text


async def test_form_credentials_and_scope_narrowing(stack: Stack) -> None:
    client = await stack.new_client(["registry:read", "registry:write"])
    async with stack.client() as http:
        r = await http.post("/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": client["client_secret"], "scope": "registry:read"})
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "registry:read"
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (await http.get("/registry/areas/IN-23", headers=auth)).status_code == 200
        r = await http.post("/registry/areas", json={"code": "IN-26", "name": "x"}, headers=auth)
        assert r.status_code == 403  # narrowed away
        r = await http.post("/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": client["client_secret"], "scope": "registry:read notify:send"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("data,auth,status,error", [
    ({"grant_type": "password"}, "good", 400, "unsupported_grant_type"),
    ({}, "good", 400, "invalid_request"),
    ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
    ({"grant_type": "client_credentials"}, "bad", 401, "invalid_client"),
])
async def test_token_errors_follow_rfc6749(stack: Stack, data: dict[str, str], auth: str | None, status: int,
                                           error: str) -> None:
    client = await stack.new_client(["registry:read"])
    creds = {"good": (client["client_id"], client["client_secret"]), "bad": (client["client_id"], "gss_wrong"),
             None: None}[auth]
    async with stack.client() as http:
        r = await http.post("/oauth2/token", data=data, auth=creds)  # type: ignore[arg-type]
    assert r.status_code == status
    assert r.json()["error"] == error
    if auth == "bad":
        assert r.headers["www-authenticate"].startswith("Basic")


async def test_another_clients_secret_does_not_authenticate(stack: Stack) -> None:
    a = await stack.new_client(["registry:read"])
    b = await stack.new_client(["*"])
    async with stack.client() as http:
        r = await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(b["client_id"], a["client_secret"]))
    assert r.status_code == 401


async def test_operator_login_token_carries_roles_and_area(stack: Stack) -> None:
    username, password = await stack.new_user(["ward_member"], ["IN-23-0456"])
    async with stack.client() as http:
        r = await http.post("/auth/login", json={"username": username, "password": password})
        token = r.json()["access_token"]
        claims = jwt.decode(token, await _jwks_key(http, token), algorithms=["RS256"],
                            audience=stack.config.audience)
    assert claims["roles"] == ["ward_member"] and claims["area_scope"] == ["IN-23-0456"]
    assert "registry:read" in claims["scope"].split() and "registry:write" not in claims["scope"].split()


async def test_disabled_operator_loses_access(stack: Stack) -> None:
    username, password = await stack.new_user(["e_volunteer"], ["IN-23-0456"])
    admin = await stack.new_client(["gateway:admin"])
    async with stack.client() as http:
        token = (await http.post("/auth/login", json={"username": username, "password": password})).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert (await http.get("/registry/areas/IN-23-0456", headers=auth)).status_code == 200
        r = await http.patch(f"/admin/users/{username}", json={"disabled": True},
                             headers={"X-API-Key": admin["api_key"]})
        assert r.status_code == 200 and r.json()["disabled_at"]
        assert (await http.get("/registry/areas/IN-23-0456", headers=auth)).status_code == 401
        r = await http.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 401


async def test_signing_key_rotation_keeps_old_tokens_valid(stack: Stack) -> None:
    client = await stack.new_client(["registry:read"])
    admin = await stack.new_client(["gateway:admin"])
    async with stack.client() as http:
        old = (await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                               auth=(client["client_id"], client["client_secret"]))).json()["access_token"]
        r = await http.post("/admin/signing-keys/rotate", headers={"X-API-Key": admin["api_key"]})
        assert r.status_code == 200, r.text
        new_kid = r.json()["kid"]
        new = (await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                               auth=(client["client_id"], client["client_secret"]))).json()["access_token"]
        assert jwt.get_unverified_header(new)["kid"] == new_kid != jwt.get_unverified_header(old)["kid"]
        kids = {k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]}
        assert {new_kid, jwt.get_unverified_header(old)["kid"]} <= kids
        for token in (old, new):
            r = await http.get("/registry/areas/IN-23", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200


async def test_admin_api_mirrors_the_cli(stack: Stack) -> None:
    admin = await stack.new_client(["gateway:admin"])
    async with stack.client(**{"X-API-Key": admin["api_key"]}) as http:
        r = await http.post("/admin/clients", json={"name": "dept-health-x", "scopes": ["benefits:write"],
                                                    "area_scope": ["IN-23"]})
        assert r.status_code == 201, r.text
        assert {"client_id", "client_secret", "api_key"} <= r.json().keys()
        assert (await http.post("/admin/clients", json={"name": "dept-health-x", "scopes": []})).status_code == 409
        bad = await http.post("/admin/clients", json={"name": "y", "scopes": ["not a scope"]})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        names = [c["name"] for c in (await http.get("/admin/clients")).json()]
        assert "dept-health-x" in names and all("api_key" not in c for c in (await http.get("/admin/clients")).json())
        r = await http.post("/admin/users", json={"username": "asha.devi.x", "password": "long-enough-secret",
                                                  "roles": ["anganwadi_worker"], "area_scope": ["IN-23-0456"]})
        assert r.status_code == 201, r.text
        assert "password_hash" not in r.json()
        r = await http.post("/admin/users", json={"username": "zz.bad", "password": "long-enough-secret",
                                                  "roles": ["emperor"], "area_scope": ["IN"]})
        assert r.status_code == 422
