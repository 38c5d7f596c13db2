"""The identity context: who is calling, with which roles, scopes and area scope.

Only the gateway authenticates callers.  It forwards the result as ``X-GramSetu-Identity``
(base64url JSON) plus ``X-GramSetu-Identity-Signature`` (HMAC-SHA256 under a secret shared
by the gateway and the services), and strips both headers from anything a caller sends.
A service trusts the context only if the signature checks and it has not expired, then
uses it for object-level checks (``identity.require_area(code)``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel, Field, ValidationError

from kernel.areas import is_within_any
from kernel.errors import Forbidden, NotFound, Unauthorized
from kernel.settings import Settings, get_settings

IDENTITY_HEADER = "X-GramSetu-Identity"
SIGNATURE_HEADER = "X-GramSetu-Identity-Signature"


class Identity(BaseModel):
    subject: str
    kind: str = Field(description="user (an operator), client (a partner app or department system) or system")
    roles: list[str] = []
    scopes: list[str] = []
    area_scope: list[str] = Field(default_factory=list, description="area codes the caller may act in")
    client_id: str | None = None
    expires_at: float = 0.0

    def has_scope(self, scope: str) -> bool:
        service = scope.split(":", 1)[0]
        return scope in self.scopes or f"{service}:*" in self.scopes or "*" in self.scopes

    def can_access_area(self, code: str) -> bool:
        return is_within_any(code, self.area_scope)

    def require_area(self, code: str, *, hide: bool = True) -> None:
        """Object-level check; by default answers 404 so a caller cannot probe what exists elsewhere."""
        if not self.can_access_area(code):
            if hide:
                raise NotFound("No such record in your area.")
            raise Forbidden("This record is outside your area scope.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_identity(identity: Identity, secret: str, *, ttl_seconds: float | None = None) -> dict[str, str]:
    if not identity.expires_at:
        ttl = ttl_seconds if ttl_seconds is not None else get_settings().identity_ttl_seconds
        identity = identity.model_copy(update={"expires_at": time.time() + ttl})
    payload = _b64(json.dumps(identity.model_dump(), separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return {IDENTITY_HEADER: payload, SIGNATURE_HEADER: signature}


def verify_identity(payload: str, signature: str, secret: str, *, now: float | None = None) -> Identity:
    if not payload.isascii() or not signature.isascii():  # compare_digest refuses non-ASCII text
        raise Unauthorized("The identity context is not signed by the gateway.")
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest refuses a non-ASCII str (a 500), and any header byte is possible.
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise Unauthorized("The identity context is not signed by the gateway.")
    try:
        identity = Identity.model_validate_json(_unb64(payload))
    except (ValidationError, ValueError) as exc:
        raise Unauthorized("The identity context is malformed.") from exc
    if identity.expires_at < (now if now is not None else time.time()):
        raise Unauthorized("The identity context has expired.")
    return identity


def identity_from_request(request: Request) -> Identity | None:
    payload = request.headers.get(IDENTITY_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not payload and not signature:
        return None
    if not payload or not signature:
        raise Unauthorized("The identity context is incomplete.")
    return verify_identity(payload, signature, _settings_of(request).identity_secret)


def _settings_of(request: Request) -> Settings:
    """The settings the app was created with (a test or a second app may differ from the process's)."""
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


async def _current_identity(request: Request) -> Identity:
    identity = identity_from_request(request)
    if identity is None:
        raise Unauthorized(
            "Authentication required: call through the gateway with an API key or bearer token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return identity


CurrentIdentity = Annotated[Identity, Depends(_current_identity)]


def require_scope(scope: str) -> Depends:  # type: ignore[valid-type]
    async def checker(identity: CurrentIdentity) -> Identity:
        if not identity.has_scope(scope):
            raise Forbidden(f"This call needs the {scope!r} scope.")
        return identity

    return Depends(checker)
