"""Registry test helpers: an area tree, valid identifiers, household payloads, role headers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from services.registry.rules.identifiers import verhoeff_check_digit
from tests.conftest import identity_headers

WARD = "BD-40-87-90-54-08"
OTHER_WARD = "BD-40-87-90-54-07"
UNION = "BD-40-87-90-54"
IN_VILLAGE = "IN-23-0456-2210-123456-654321"
AREAS = ["BD-40", "BD-40-87", "BD-40-87-90", UNION, WARD, OTHER_WARD,
         "IN-23", "IN-23-0456", "IN-23-0456-2210", "IN-23-0456-2210-123456", IN_VILLAGE]
PURPOSE = {"X-Purpose": "test: survey review"}


def aadhaar(seed: int) -> str:
    body = f"{2 + seed % 8}{seed:010d}"[:11]
    return body + verhoeff_check_digit(body)


def brn(year: int, serial: int) -> str:
    return f"{year}{serial:013d}"


def member(name: str, sex: str, role: str, **extra: Any) -> dict[str, Any]:
    return {"full_name": name, "sex": sex, "role": role, **extra}


def household(area: str = WARD, members: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"area_code": area, "address": "House 12, Nagarghata", "members": members or [], **extra}


def volunteer(area: str = WARD, subject: str = "volunteer-1") -> dict[str, str]:
    return identity_headers(subject=subject, roles=["e_volunteer"], scopes=["registry:read", "registry:write"],
                            area_scope=[area])


def ward_member(area: str = WARD, subject: str = "ward-member-1") -> dict[str, str]:
    return identity_headers(subject=subject, roles=["ward_member"], scopes=["registry:read"], area_scope=[area])


def officer(area: str = "BD-40-87-90", subject: str = "uno-1") -> dict[str, str]:
    return identity_headers(subject=subject, roles=["department_officer"], scopes=["registry:read"],
                            area_scope=[area])


@pytest.fixture
async def client(registry_client: httpx.AsyncClient, admin_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The registry with the area tree in place."""
    for code in AREAS:
        r = await registry_client.post("/areas", json={"code": code, "name": code}, headers=admin_headers)
        assert r.status_code == 201, r.text
    yield registry_client


async def create_household(client: httpx.AsyncClient, body: dict[str, Any],
                           headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = await client.post("/households", json=body, headers=headers or volunteer())
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def new_ref() -> str:
    return uuid.uuid4().hex


async def bus_events(nats_url: str, database_url: str, expect: set[str], timeout: float = 10.0) -> list[Any]:
    """Envelopes on the REGISTRY stream and its bulk twin (an import's events), once the registry's
    outbox is empty (every event committed before the call is on the bus, in whichever lane or batch
    the relay took it) and every expected type has arrived. Waiting for the types alone is not enough
    when a test counts events: one type can arrive before the rest of what the same write emitted."""
    import asyncio

    import nats

    from contracts.base import Envelope

    await _outbox_drained(database_url, timeout)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            envelopes = []
            try:
                for stream in ("REGISTRY", "REGISTRY_BULK"):
                    info = await js.stream_info(stream)
                    if not info.state.messages:
                        continue
                    for seq in range(info.state.first_seq, info.state.last_seq + 1):
                        msg = await js.get_msg(stream, seq)
                        envelopes.append(Envelope.model_validate_json(msg.data or b""))
            except Exception:  # the stream may not exist yet
                envelopes = []
            if expect <= {e.type for e in envelopes} or asyncio.get_running_loop().time() > deadline:
                return envelopes
            await asyncio.sleep(0.1)
    finally:
        await nc.close()


async def _outbox_drained(database_url: str, timeout: float) -> None:
    import asyncio

    conn = await asyncpg.connect(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM registry.outbox)"):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the registry's outbox still holds events after {timeout} s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
