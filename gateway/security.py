"""Credential material: random API keys and secrets, their hashes, operator passwords."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_KEY_PREFIX = "gsk_"
SECRET_PREFIX = "gss_"  # noqa: S105 - a prefix that makes leaked secrets greppable
_hasher = PasswordHasher()
# Verified when the username is unknown, so a login takes as long whether or not the user exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_client_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def credential_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Argon2id takes tens of milliseconds of CPU: run it off the event loop."""
    return await asyncio.to_thread(_verify, password_hash, password)
