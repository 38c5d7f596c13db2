"""JWT signing keys (RS256, kept in the gateway schema, published as a JWKS) and tokens.

RS256 rather than ES256 because verification (every request) is several times cheaper,
while signing (once per token) is rare.  A key signs until it is retired by rotation; it
stays in the JWKS for ``signing_key_grace_seconds`` so tokens it signed keep verifying.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"


@dataclass
class SigningKey:
    kid: str
    private_key: Any | None  # None when only the public half is needed
    public_key: Any
    public_jwk: dict[str, Any]
    created_at: float
    retired_at: float | None


def generate_key(passphrase: str) -> tuple[str, str, dict[str, Any]]:
    """A new RSA key: (kid, encrypted PKCS#8 PEM, public JWK)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()
    kid = time.strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    return kid, pem, jwk


def load_key(kid: str, pem: str, jwk: dict[str, Any], passphrase: str, created_at: float,
             retired_at: float | None) -> SigningKey:
    private = serialization.load_pem_private_key(pem.encode(), password=passphrase.encode())
    return SigningKey(kid, private, private.public_key(), jwk, created_at, retired_at)


def sign(claims: dict[str, Any], key: SigningKey) -> str:
    assert key.private_key is not None
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def unverified_kid(token: str) -> str | None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def verify(token: str, key: SigningKey, *, issuer: str, audience: str) -> dict[str, Any]:
    """Raises jwt.PyJWTError when the signature, expiry, issuer or audience is wrong."""
    return jwt.decode(
        token, key.public_key, algorithms=[ALGORITHM], issuer=issuer, audience=audience,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]}, leeway=5,
    )
