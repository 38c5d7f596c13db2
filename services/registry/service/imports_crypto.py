"""Fernet tokens for many identifiers at once, in the exact format ``identifiers.decrypt`` reads.

``Fernet.encrypt`` builds a cipher context, a padder and an HMAC object per value (~8 µs); for
a bulk import the same token (version 0x80 | timestamp | IV | AES-128-CBC(PKCS7) | HMAC-SHA256,
urlsafe base64; https://github.com/fernet/spec) is built here from one long-lived AES block
cipher: CBC chaining is done block by block (C_i = AES(P_i xor C_{i-1}), C_0 = IV, exactly the
CBC definition; identifiers are one or two blocks), IVs are drawn from os.urandom in batches and
the MAC is a :class:`KeyedSha256` of the signing key.  Tokens are checked against
``Fernet.decrypt`` in tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_VERSION = b"\x80"
_IV_BATCH = 1024


class KeyedSha256:
    """HMAC-SHA256 with one key for many messages: the keyed state is made once and copied per
    message (``hmac.HMAC.copy``), instead of ``hmac.digest`` setting the key up on every call."""

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def _with(self, message: bytes) -> hmac.HMAC:
        mac = self._keyed.copy()
        mac.update(message)
        return mac

    def digest(self, message: bytes) -> bytes:
        return self._with(message).digest()

    def hexdigest(self, message: bytes) -> str:
        return self._with(message).hexdigest()


class FernetWriter:
    def __init__(self, key: str) -> None:
        raw = base64.urlsafe_b64decode(key)
        if len(raw) != 32:
            raise ValueError("a Fernet key is 32 bytes, urlsafe base64")
        self._mac = KeyedSha256(raw[:16]).digest
        # A raw block cipher; the CBC chaining is in encrypt(), never ECB over a whole message.
        self._block = Cipher(algorithms.AES(raw[16:]), modes.ECB()).encryptor()  # noqa: S305
        self._ivs = b""

    def _iv(self) -> bytes:
        if not self._ivs:
            self._ivs = os.urandom(16 * _IV_BATCH)
        iv, self._ivs = self._ivs[:16], self._ivs[16:]
        return iv

    def encrypt(self, value: str) -> str:
        data = value.encode()
        pad = 16 - len(data) % 16
        padded = data + bytes((pad,)) * pad
        iv = previous = self._iv()
        blocks = []
        for start in range(0, len(padded), 16):
            mixed = int.from_bytes(padded[start:start + 16], "big") ^ int.from_bytes(previous, "big")
            previous = self._block.update(mixed.to_bytes(16, "big"))
            blocks.append(previous)
        body = _VERSION + struct.pack(">Q", int(time.time())) + iv + b"".join(blocks)
        return base64.urlsafe_b64encode(body + self._mac(body)).decode()
