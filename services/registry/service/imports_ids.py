"""Time-ordered record ids for bulk imports (UUID version 7, RFC 9562).

Why: random (version 4) ids land all over every B-tree that starts with them (person, membership,
identifier and outbox primary keys, the name-token and history indexes), so each inserted row
touches a random leaf page.  Ids that increase within an import append to the rightmost leaf
instead, which makes the set-based inserts of a large import markedly cheaper.  Each id keeps
44 random bits (12 per import + 32 per id), so ids stay hard to guess.
"""

from __future__ import annotations

import random
import secrets
import time


class TimeOrderedIds:
    """Increasing UUIDv7 strings: 48-bit Unix ms | version 7 | 12 random bits | variant | counter | random."""

    def __init__(self) -> None:
        millis = time.time_ns() // 1_000_000
        high = (millis << 16) | (0x7 << 12) | secrets.randbits(12)  # the first 64 bits: fixed per generator
        text = f"{high:016x}"
        self._prefix = f"{text[:8]}-{text[8:12]}-{text[12:16]}-"
        self._counter = 0
        # Per-id randomness from a generator seeded from the OS: secrets.randbits is a syscall per id.
        self._random = random.Random(secrets.randbits(128)).getrandbits

    def next(self) -> str:
        self._counter += 1
        if self._counter >= 1 << 30:  # the counter has 30 bits: start a new prefix
            self.__init__()  # type: ignore[misc]
            self._counter = 1
        low = (0b10 << 62) | (self._counter << 32) | self._random(32)  # variant | counter | random
        return f"{self._prefix}{low >> 48:04x}-{low & 0xFFFFFFFFFFFF:012x}"
