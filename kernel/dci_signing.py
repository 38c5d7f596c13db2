"""DCI message signatures: draft-cavage HTTP Signature fields over an Ed25519 signature (the registry
signs its callbacks and verifies senders with it; benefits signs its IBR replies).

As OpenSPP implements it (docs/dci.md, "Signatures and keys"): the digest is base64
SHA-256 of ``json.dumps({"header": h, "message": m}, sort_keys=True, separators=(",", ":"))``
(``ensure_ascii`` left on, so Bengali and Hindi text is hashed as ``\\uXXXX``); the signed
string is ``"(created): C\\n(expires): E\\ndigest: D"``; the result is the parameter list
``namespace="dci", kidId="{sender_id}|{key_id}|ed25519", algorithm="ed25519", created, expires,
headers, signature``.  The spec's example prefixes it with ``Signature:`` and uses the
namespace ``spdci``; both are accepted on input.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
SIGNED_HEADERS = "(created) (expires) digest"


class SignatureError(ValueError):
    """``code`` is the DCI error code: err.signature.missing or err.signature.invalid."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def digest(header: Any, message: Any) -> str:
    canonical = json.dumps({"header": header, "message": message}, sort_keys=True, separators=(",", ":"))
    return base64.b64encode(hashlib.sha256(canonical.encode()).digest()).decode()


def signing_string(created: int, expires: int, body_digest: str) -> bytes:
    return f"(created): {created}\n(expires): {expires}\ndigest: {body_digest}".encode()


def private_key_from_seed(seed_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, str]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": kid, "use": "sig", "alg": "EdDSA"}


def public_key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("only Ed25519 keys (kty OKP, crv Ed25519) are supported")
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(header: Any, message: Any, key: Ed25519PrivateKey, *, sender_id: str, key_id: str,
         now: float | None = None, ttl: int = 300) -> str:
    created = int(now if now is not None else time.time())
    expires = created + ttl
    signature = key.sign(signing_string(created, expires, digest(header, message)))
    return (
        f'namespace="dci", kidId="{sender_id}|{key_id}|ed25519", algorithm="ed25519", '
        f'created="{created}", expires="{expires}", headers="{SIGNED_HEADERS}", '
        f'signature="{base64.b64encode(signature).decode()}"'
    )


@dataclass(frozen=True)
class ParsedSignature:
    sender_id: str
    key_id: str
    created: int
    expires: int
    signature: bytes


def parse(value: str) -> ParsedSignature:
    text = value.strip()
    if text.lower().startswith("signature:"):
        text = text[len("signature:"):]
    params = dict(_PARAM.findall(text))
    try:
        sender_id, key_id, algorithm = params["kidId"].split("|")
        created, expires = int(params["created"]), int(params["expires"])
        raw = base64.b64decode(params["signature"], validate=True)
    except (KeyError, ValueError) as exc:
        raise SignatureError("err.signature.invalid", "The signature is not in the DCI format") from exc
    if algorithm.lower() != "ed25519" or params.get("algorithm", "ed25519").lower() != "ed25519":
        raise SignatureError("err.signature.invalid", "Only ed25519 signatures are accepted")
    if params.get("headers", SIGNED_HEADERS) != SIGNED_HEADERS:
        raise SignatureError("err.signature.invalid", f'The signature must cover headers="{SIGNED_HEADERS}"')
    return ParsedSignature(sender_id, key_id, created, expires, raw)


def verify(value: str | None, header: Any, message: Any, keys: list[dict[str, Any]], *, sender_id: str,
           now: float | None = None, max_skew: int = 60) -> None:
    """Raise :class:`SignatureError` unless ``value`` is a valid, current signature by one of ``keys``."""
    if not value:
        raise SignatureError("err.signature.missing", "The message must be signed (envelope signature)")
    parsed = parse(value)
    moment = now if now is not None else time.time()
    if parsed.sender_id != sender_id:
        raise SignatureError("err.signature.invalid", "The signature's kidId names another sender")
    if moment > parsed.expires or parsed.created > moment + max_skew or parsed.expires <= parsed.created:
        raise SignatureError("err.signature.invalid", "The signature has expired or is not yet valid")
    jwk = next((k for k in keys if k.get("kid") == parsed.key_id), None)
    if jwk is None:
        raise SignatureError("err.signature.invalid", f"No public key {parsed.key_id!r} is registered for the sender")
    try:
        public_key_from_jwk(jwk).verify(
            parsed.signature, signing_string(parsed.created, parsed.expires, digest(header, message))
        )
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("err.signature.invalid", "The signature does not match the message") from exc
