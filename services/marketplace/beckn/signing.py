"""BECKN-006 request signatures: ``Authorization: Signature keyId="{subscriber_id}|{unique_key_id}|ed25519",
algorithm="ed25519",created="…",expires="…",headers="(created) (expires) digest",signature="…"``.

The signed string is ``(created): C\\n(expires): E\\ndigest: BLAKE-512=<base64 BLAKE2b-512 of the raw
body>``; the signature is Ed25519, base64.  The digest covers the exact bytes sent, so callbacks are
serialised once and those bytes are both signed and posted."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNED_HEADERS = "(created) (expires) digest"
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*(?:,|$)')


class SignatureError(ValueError):
    pass


def body_digest(body: bytes) -> str:
    return "BLAKE-512=" + base64.b64encode(hashlib.blake2b(body, digest_size=64).digest()).decode()


def signing_string(created: int, expires: int, body: bytes) -> bytes:
    return f"(created): {created}\n(expires): {expires}\ndigest: {body_digest(body)}".encode()


def private_key(seed_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))


def public_key_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def sign(body: bytes, key: Ed25519PrivateKey, *, subscriber_id: str, unique_key_id: str, created: int,
         ttl: int = 300) -> str:
    expires = created + ttl
    signature = base64.b64encode(key.sign(signing_string(created, expires, body))).decode()
    return (f'Signature keyId="{subscriber_id}|{unique_key_id}|ed25519",algorithm="ed25519",created="{created}",'
            f'expires="{expires}",headers="{SIGNED_HEADERS}",signature="{signature}"')


@dataclass(frozen=True)
class Parsed:
    subscriber_id: str
    unique_key_id: str
    created: int
    expires: int
    signature: bytes


def parse(header: str) -> Parsed:
    text = header.strip()
    if text[:10].lower() == "signature ":
        text = text[10:]
    params = dict(_PARAM.findall(text))
    try:
        subscriber_id, unique_key_id, algorithm = params["keyId"].split("|")
        created, expires = int(params["created"]), int(params["expires"])
        raw = base64.b64decode(params["signature"], validate=True)
    except (KeyError, ValueError) as exc:
        raise SignatureError("the Authorization header is not a Beckn signature") from exc
    if algorithm != "ed25519" or params.get("algorithm", "ed25519") != "ed25519":
        raise SignatureError("only ed25519 signatures are accepted")
    if params.get("headers", SIGNED_HEADERS) != SIGNED_HEADERS:
        raise SignatureError(f'the signature must cover headers="{SIGNED_HEADERS}"')
    return Parsed(subscriber_id, unique_key_id, created, expires, raw)


KeyLookup = Callable[[str, str], Awaitable[str | None]]


async def verify(header: str | None, body: bytes, lookup: KeyLookup, *, now: float, max_skew: int = 300) -> Parsed:
    """The parsed signature if it is current and made by the key the subscriber entry names."""
    if not header:
        raise SignatureError("the request is not signed (Authorization header missing)")
    parsed = parse(header)
    if now > parsed.expires or parsed.created > now + max_skew or parsed.expires <= parsed.created:
        raise SignatureError("the signature has expired or is not yet valid")
    key_b64 = await lookup(parsed.subscriber_id, parsed.unique_key_id)
    if key_b64 is None:
        raise SignatureError(f"no subscribed key {parsed.unique_key_id!r} for {parsed.subscriber_id!r}")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key_b64)).verify(
            parsed.signature, signing_string(parsed.created, parsed.expires, body))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("the signature does not match the body") from exc
    return parsed
