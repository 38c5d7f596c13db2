"""The role → permission table (kernel/roles.py) as operators and systems meet it, through the gateway.

One test per row of the table (what the token carries, what the docs say), every role creatable,
and the ward census collected → verified → approved with the real roles over HTTP.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import service
from kernel import roles
from kernel.auth import Identity
from tests.gateway.conftest import Stack

UPAZILA = "IN-23-0456-2210"  # a block: the department officer's level
UNION = f"{UPAZILA}-123456"
WARD = f"{UNION}-654321"
ROWS = sorted(roles.PERMISSIONS)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "roles.md"


def _identity(role: str, area: str = "IN") -> Identity:
    return Identity(subject="x", kind="user", roles=[role], scopes=service.scopes_for_roles([role]),
                    area_scope=[area])


@pytest.mark.parametrize("permission", ROWS)
def test_row_is_held_by_exactly_its_roles_and_documented(permission: str) -> None:
    row = roles.PERMISSIONS[permission]
    for role in roles.ROLES:
        expected = role in row.roles or role == "admin"
        assert roles.holds(_identity(role), permission) is expected, role
        # The gateway's token scopes say the same as the service's check.
        assert service.Principal("x", "user", service.scopes_for_roles([role]), []).has_scope(permission) is expected
    service_name = permission.split(":")[0]
    text = DOCS.read_text()
    section = text.split(f"\n## {service_name}\n", 1)[1].split("\n## ", 1)[0]
    rendered = next(line for line in roles.markdown_rows(service_name) if line.startswith(f"| `{permission}` |"))
    assert rendered in section, f"docs/roles.md ## {service_name} is out of date: python -m kernel.roles"


@pytest.mark.parametrize("permission", [p for p in ROWS if roles.PERMISSIONS[p].level is not None])
def test_row_level_is_the_narrowest_scope_that_holds_it(permission: str) -> None:
    row = roles.PERMISSIONS[permission]
    assert row.level is not None
    role = sorted(row.roles)[0]
    record = WARD
    parts = record.split("-")
    at_level = "-".join(parts[: row.level + 1])
    assert roles.permitted(_identity(role, at_level), permission, record)
    if row.level < roles.Level.VILLAGE_WARD:
        narrower = "-".join(parts[: row.level + 2])
        assert not roles.permitted(_identity(role, narrower), permission, record)
    assert not roles.permitted(_identity(role, "BD"), permission, record)  # outside the scope altogether


def test_route_permissions_match_only_their_routes() -> None:
    assert set(roles.route_permissions("POST", f"/registry/households/{uuid.uuid4()}/survey")) == {
        "registry:survey_verify", "registry:survey_approve", "registry:survey_return"}
    assert roles.route_permissions("PATCH", f"/registry/households/{uuid.uuid4()}") == []
    assert roles.route_permissions("POST", f"/registry/households/{uuid.uuid4()}/members") == []
    assert roles.route_permissions("POST", "/registry/rounds") == ["registry:round_manage"]


def test_gateway_role_scopes_derive_from_the_table() -> None:
    assert service.ROLE_SCOPES == roles.role_scopes()
    assert set(service.ROLE_SCOPES) == set(roles.ROLES)
    assert service.ROLE_SCOPES["admin"] == ["*"]


async def test_every_role_in_the_table_is_creatable(stack: Stack) -> None:
    for role in roles.ROLES:
        username, password = await stack.new_user([role], [UNION])
        async with stack.client() as http:
            r = await http.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, (role, r.text)
        assert set(r.json()["scope"].split()) == set(service.scopes_for_roles([role]))


# ------------------------------------------------------------------------------- the ward census
async def _areas(stack: Stack) -> dict[str, str]:
    admin = await stack.new_client(["*"])
    headers = {"X-API-Key": admin["api_key"]}
    async with stack.client(**headers) as http:
        for code in (UPAZILA, UNION, WARD, f"{UNION}-654322"):
            r = await http.post("/registry/areas", json={"code": code, "name": code})
            assert r.status_code in (201, 409), r.text
    return headers


async def _login(stack: Stack, role: str, area: str) -> tuple[str, dict[str, str]]:
    username, password = await stack.new_user([role], [area])
    async with stack.client() as http:
        r = await http.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return username, {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _collect(http: httpx.AsyncClient, volunteer: dict[str, str]) -> dict[str, Any]:
    body = {"area_code": WARD, "address": "House 4, ward 1",
            "members": [{"full_name": "Rina Devi", "sex": "female", "role": "head"}]}
    r = await http.post("/registry/households", json=body, headers=volunteer)
    assert r.status_code == 201, r.text
    assert r.json()["survey_status"] == "collected"
    return r.json()  # type: ignore[no-any-return]


async def _decide(http: httpx.AsyncClient, household: dict[str, Any], headers: dict[str, str], action: str,
                  **extra: Any) -> httpx.Response:
    return await http.post(f"/registry/households/{household['id']}/survey", json={"action": action, **extra},
                           headers=headers)


@pytest.mark.parametrize("verifier_role", ["ward_member", "panchayat_secretary"])
async def test_ward_census_collected_verified_approved_with_real_roles(stack: Stack, verifier_role: str) -> None:
    await _areas(stack)
    _, volunteer = await _login(stack, "e_volunteer", WARD)
    verifier_name, verifier = await _login(stack, verifier_role, WARD if verifier_role == "ward_member" else UNION)
    officer_name, officer = await _login(stack, "department_officer", UPAZILA)
    async with stack.client() as http:
        household = await _collect(http, volunteer)
        r = await _decide(http, household, volunteer, "verify")
        assert r.status_code == 403 and "ward_member" in r.json()["detail"]  # collecting is not verifying
        # The verifier may decide on the record but not edit it.
        r = await http.patch(f"/registry/households/{household['id']}", json={"address": "x", "base_version": 1},
                             headers=verifier)
        assert r.status_code == 403
        r = await _decide(http, household, verifier, "verify")
        assert r.status_code == 200, r.text
        assert r.json()["survey_status"] == "verified" and r.json()["verified_by"] == verifier_name
        r = await _decide(http, household, officer, "approve")
        assert r.status_code == 200, r.text
        assert r.json()["survey_status"] == "approved" and r.json()["approved_by"] == officer_name


async def test_approving_needs_a_block_level_scope_and_return_needs_a_reviewer(stack: Stack) -> None:
    await _areas(stack)
    _, volunteer = await _login(stack, "e_volunteer", WARD)
    _, member = await _login(stack, "ward_member", WARD)
    _, ward_officer = await _login(stack, "department_officer", WARD)
    async with stack.client() as http:
        household = await _collect(http, volunteer)
        assert (await _decide(http, household, member, "verify")).status_code == 200
        r = await _decide(http, household, ward_officer, "approve")
        assert r.status_code == 403 and "block / upazila" in r.json()["detail"]
        r = await _decide(http, household, member, "approve")
        assert r.status_code == 403 and "department_officer" in r.json()["detail"]
        r = await _decide(http, household, volunteer, "return", reason="wrong ward")
        assert r.status_code == 403
        r = await _decide(http, household, member, "return", reason="mother's name missing")
        assert r.status_code == 200 and r.json()["survey_status"] == "returned"


async def test_a_department_system_approves_with_a_client_carrying_the_role(stack: Stack) -> None:
    await _areas(stack)
    _, volunteer = await _login(stack, "e_volunteer", WARD)
    _, member = await _login(stack, "ward_member", WARD)
    office = await stack.new_client(["registry:read"], [UPAZILA], roles=["department_officer"])
    scoped = await stack.new_client(["registry:survey_approve"], [UPAZILA])
    async with stack.client() as http:
        for approver in ({"X-API-Key": office["api_key"]}, {"X-API-Key": scoped["api_key"]}):
            household = await _collect(http, volunteer)
            assert (await _decide(http, household, member, "verify")).status_code == 200
            r = await _decide(http, household, approver, "approve")
            assert r.status_code == 200, r.text
            assert r.json()["survey_status"] == "approved"
        # The role-carrying client gets the role in its OAuth2 token too.
        r = await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(office["client_id"], office["client_secret"]))
        assert "registry:survey_approve" in r.json()["scope"].split()
    bad = await _refused_client_roles(stack)
    assert bad.status == 422


async def _refused_client_roles(stack: Stack) -> Any:
    from kernel.errors import ValidationProblem

    try:
        await stack.new_client(["registry:read"], roles=["mayor"])
    except ValidationProblem as exc:
        return exc
    raise AssertionError("an unknown role was accepted")


async def test_role_and_area_changes_reach_tokens_already_issued(stack: Stack) -> None:
    headers = await _areas(stack)
    _, volunteer = await _login(stack, "e_volunteer", WARD)
    username, member = await _login(stack, "ward_member", WARD)
    async with stack.client() as http:
        first, second = await _collect(http, volunteer), await _collect(http, volunteer)
        assert (await http.get(f"/registry/households/{first['id']}", headers=member | {"X-Purpose": "review"})
                ).status_code == 200
        r = await http.patch(f"/admin/users/{username}", json={"roles": ["auditor"]}, headers=headers)
        assert r.status_code == 200, r.text
        await _until(lambda: _decide(http, first, member, "verify"), 403)
        r = await http.patch(f"/admin/users/{username}", json={"roles": ["ward_member"],
                                                               "area_scope": [f"{UNION}-654322"]}, headers=headers)
        assert r.status_code == 200, r.text
        r = await _until(lambda: http.get(f"/registry/households/{second['id']}",
                                          headers=member | {"X-Purpose": "review"}), 404)
        assert r.status_code == 404  # the old ward is no longer in this token's reach


async def _until(call: Any, status: int, timeout: float = 5.0) -> httpx.Response:
    """The gateway re-reads grants every credential_cache_seconds (0.5 s in these tests)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r: httpx.Response = await call()
        if r.status_code == status or asyncio.get_running_loop().time() > deadline:
            assert r.status_code == status, r.text
            return r
        await asyncio.sleep(0.2)


def test_docs_name_no_role_the_table_lacks() -> None:
    named = set(re.findall(r"\| `([a-z_]+)` \| (?:village|gram|block|district|state|country)", DOCS.read_text()))
    assert named == set(roles.ROLES)


# ------------------------------------------------------------- reads by POST, admin-only clients
@pytest.mark.parametrize("role", ["ward_member", "auditor"])
async def test_read_only_operators_look_people_up_through_the_gateway(stack: Stack, role: str) -> None:
    """A lookup carries the identifier in a POST body; the gateway asked registry:write for it, so a
    read-only operator could not look anyone up."""
    await _areas(stack)
    _, reader = await _login(stack, role, WARD)
    unknown = {"type": "aadhaar", "value": "234123412346"}
    async with stack.client() as http:
        r = await http.post("/registry/persons/lookup", json=unknown, headers=reader | {"X-Purpose": "review"})
        assert r.status_code == 404, r.text  # asked and answered: nobody holds it
        r = await http.post("/registry/persons/age-check", json={"identifier": unknown, "min_age": 18},
                            headers=reader | {"X-Purpose": "review"})
        assert r.status_code != 403, r.text
        r = await http.post("/registry/households", json={"area_code": WARD, "address": "x"}, headers=reader)
        assert r.status_code == 403  # still no writes
        # Reads by POST elsewhere are admitted at the gateway too (notify is down here: 502, not 403).
        r = await http.post("/notify/templates/preview", json={}, headers=reader)
        assert r.status_code != 403 or role == "ward_member", r.text


async def test_a_client_given_only_the_registry_admin_scope_onboards_a_sender(stack: Stack) -> None:
    admin_only = await stack.new_client(["registry:admin"])
    body = {"client_id": admin_only["client_id"], "name": "Dept of Social Welfare", "callback_allowlist": [],
            "public_keys": [], "require_signature": False}
    async with stack.client(**{"X-API-Key": admin_only["api_key"]}) as http:
        r = await http.put("/registry/dci/senders/dsw-admin-only", json=body)
        assert r.status_code == 200, r.text
        # The admin scope passes the gateway's gate only; the registry still checks each operation.
        r = await http.post("/registry/households", json={"area_code": WARD, "address": "x"})
        assert r.status_code == 403, r.text
