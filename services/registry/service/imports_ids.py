"""Time-ordered record ids for bulk imports (UUID versions 7 and 8, RFC 9562).

Why: random (version 4) ids land all over every B-tree that starts with them (person, membership,
identifier and outbox primary keys, the name-token and history indexes), so each inserted row
touches a random leaf page.  Ids that increase within an import append to the rightmost leaf
instead, which makes the set-based inserts of a large import markedly cheaper.  Each id keeps
44 random bits (12 per import + 32 per id), so ids stay hard to guess.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time


class TimeOrderedIds:
    """Increasing UUIDv7 strings: 48-bit Unix ms | version 7 | 12 random bits | variant | counter | random."""

    def __init__(self) -> None:
        self._prefix = _time_prefix(7)  # the first 64 bits: fixed per generator
        self._counter = 0
        # Per-id randomness from a generator seeded from the OS: secrets.randbits is a syscall per id.
        self._random = random.Random(secrets.randbits(128)).getrandbits

    def next(self) -> str:
        self._counter += 1
        if self._counter >= 1 << 30:  # the counter has 30 bits: start a new prefix
            self.__init__()  # type: ignore[misc]
            self._counter = 1
        return _with_low_bits(self._prefix, (self._counter << 32) | self._random(32))  # counter | random


def household_prefix() -> str:
    """The first 64 bits of an import's household ids (see :func:`household_id`)."""
    return _time_prefix(8)


def household_id(prefix: str, job_id: str, first_row: int, household_ref: str) -> str:
    """A new household's id, which every worker process derives alike without asking anyone:
    ``prefix`` | variant | the sheet row where the household was first seen (30 bits) | 32 bits of
    a hash of the import and the ref.  Households of an import thus get ids in sheet order, which
    append to the household and membership B-trees like the other record ids instead of landing
    on random pages (UUID version 8, RFC 9562).  Two workers that see one household first at
    different rows (it spans two chunks) derive two ids; the landing keeps the earlier one."""
    digest = hashlib.blake2b(f"{job_id}\x1f{household_ref}".encode(), digest_size=4).digest()
    return _with_low_bits(prefix, ((first_row & 0x3FFFFFFF) << 32) | int.from_bytes(digest, "big"))


def _time_prefix(version: int) -> str:
    """The first 64 bits of a time-ordered UUID, as text: 48-bit Unix ms | version | 12 random bits."""
    high = ((time.time_ns() // 1_000_000) << 16) | (version << 12) | secrets.randbits(12)
    text = f"{high:016x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-"


def _with_low_bits(prefix: str, low62: int) -> str:
    """The UUID text of ``prefix`` and the RFC 9562 variant followed by 62 bits."""
    low = (0b10 << 62) | low62
    return f"{prefix}{low >> 48:04x}-{low & 0xFFFFFFFFFFFF:012x}"
