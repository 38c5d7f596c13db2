"""Time-ordered ids (UUID version 7 layout): ledger rows arrive in time order, so the primary key
index takes appends instead of random page writes on a table meant to hold tens of millions."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
             | 0b10 << 62 | rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)
