"""DCI test helpers: an onboarded sender with its Ed25519 key, signed envelopes, a real callback
server (aiohttp on a free port), and validation against the DCI OpenAPI schemas."""

from __future__ import annotations

import asyncio
import base64
import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import yaml
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kernel.auth import Identity, sign_identity
from kernel.settings import get_settings
from services.registry.service import dci_signing
from tests.conftest import identity_headers

# The SPDCI social registry spec, vendored in the repository (source and license: docs/dci.md).
SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "dci" / "social_api_v1.0.0.yaml"
REGISTRY_ID = "gramsetu-registry"


@lru_cache
def _spec() -> dict[str, Any]:
    doc = yaml.safe_load(SPEC_PATH.read_text())
    # Known defect (reference §11): notify reg_records typed as an object; validate as the array it is.
    notify = doc["components"]["schemas"]["NotifyEventRequest"]["properties"]["notify_event"]["items"]
    records = notify["properties"]["data"]["properties"]["reg_records"]
    records["type"] = "array"
    records.pop("example", None)
    return doc  # type: ignore[no-any-return]


def validate(instance: Any, pointer: str) -> None:
    """Validate against ``#/components/...`` of the DCI spec (e.g. ``schemas/SearchResponse``)."""
    doc = _spec()
    schema = {"components": copy.deepcopy(doc["components"]), "allOf": [{"$ref": f"#/components/{pointer}"}]}
    jsonschema_rs.Draft4Validator(schema).validate(instance)


def validate_ack(body: dict[str, Any]) -> None:
    doc = _spec()
    ack_schema = doc["components"]["responses"]["Response"]["content"]["application/json"]["schema"]
    schema = {"components": copy.deepcopy(doc["components"]), "allOf": [ack_schema]}
    jsonschema_rs.Draft4Validator(schema).validate(body)


@dataclass
class Sender:
    sender_id: str
    client_id: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    key_id: str = "test-k1"

    def jwk(self) -> dict[str, str]:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "kid": self.key_id,
                "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}

    def headers(self, scopes: list[str] | None = None, area_scope: list[str] | None = None) -> dict[str, str]:
        identity = Identity(subject=f"client:{self.client_id}", kind="client", roles=["partner"],
                            scopes=scopes or ["registry:read"], area_scope=area_scope or ["BD-40-87-90-54-08"],
                            client_id=self.client_id)
        return sign_identity(identity, get_settings().identity_secret)

    def envelope(self, action: str, message: dict[str, Any], *, total_count: int = 1, sign: bool = True,
                 sender_uri: str | None = None, **header: Any) -> dict[str, Any]:
        head: dict[str, Any] = {
            "version": "1.0.0", "message_id": str(uuid.uuid4()),
            "message_ts": datetime.now(timezone.utc).isoformat(), "action": action,
            "sender_id": self.sender_id, "receiver_id": REGISTRY_ID, "total_count": total_count,
            "is_msg_encrypted": False, **header,
        }
        if sender_uri:
            head["sender_uri"] = sender_uri
        out: dict[str, Any] = {"header": head, "message": message}
        if sign:
            out["signature"] = dci_signing.sign(head, message, self.key, sender_id=self.sender_id,
                                                key_id=self.key_id)
        return out


async def onboard(client: httpx.AsyncClient, sender: Sender, allowlist: list[str],
                  default_callback: str | None = None) -> httpx.Response:
    body = {"client_id": sender.client_id, "name": sender.sender_id, "callback_allowlist": allowlist,
            "default_callback_uri": default_callback, "public_keys": [sender.jwk()]}
    return await client.put(f"/dci/senders/{sender.sender_id}", json=body,
                            headers=identity_headers(scopes=["registry:admin"]))


async def registry_keys(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await client.get("/dci/jwks.json")
    assert r.status_code == 200
    return r.json()["keys"]  # type: ignore[no-any-return]


async def verify_reply(client: httpx.AsyncClient, envelope: dict[str, Any]) -> None:
    """The registry's signature on a reply or callback checks out against its published JWKS."""
    dci_signing.verify(envelope["signature"], envelope["header"], envelope["message"], await registry_keys(client),
                       sender_id=REGISTRY_ID)


def search_item(reference_id: str, query_type: str, query: Any, **criteria: Any) -> dict[str, Any]:
    return {"reference_id": reference_id, "timestamp": datetime.now(timezone.utc).isoformat(), "locale": "eng",
            "search_criteria": {"version": "1.0.0", "reg_type": "ns:org:RegistryType:Social",
                                "query_type": query_type, "query": query, "response_entity": "Member",
                                "consent": {"ts": datetime.now(timezone.utc).isoformat(),
                                            "purpose": {"text": "benefit eligibility check"}},
                                **criteria}}


class CallbackServer:
    """A real HTTP server the registry calls back; records every POST."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.base = ""
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((request.path, await request.json(), dict(request.headers)))
        self._arrived.set()
        return web.json_response({"message": {"ack_status": "ACK", "timestamp": datetime.now(timezone.utc).isoformat(),
                                              "correlation_id": str(uuid.uuid4())}})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def at(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body, _ in self.received if p == path]

    async def wait_for(self, path: str, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.at(path)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} POST(s) to {path}, got {[p for p, _, _ in self.received]}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=0.2)
            except asyncio.TimeoutError:
                pass
        return self.at(path)
