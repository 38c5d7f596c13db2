"""Tracking numbers a person can read out on the phone.

Eight characters in two groups (``KX7D-M4RP``) from an alphabet without look-alikes or
sound-alikes: no 0/O/Q/D, 1/I/L, 2/Z, 5/S, 8/B, G, U/V, M/N (only M stays).  The last character is a check
character (weighted sum mod the alphabet size), so one misheard character or two swapped
neighbours are caught before a lookup.  Seven random characters give 19^7 ≈ 894 million numbers; a collision is retried.
"""

from __future__ import annotations

import secrets

ALPHABET = "ACEFHJKMPRTWXY34679"  # 19: a prime, for the check character
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
RANDOM_LENGTH = 7


def check_character(body: str) -> str:
    # Weights 1..n with a prime modulus catch single substitutions and adjacent transpositions.
    total = sum((i + 1) * _INDEX[c] for i, c in enumerate(body))
    return ALPHABET[total % len(ALPHABET)]


def new_tracking_number() -> str:
    # One draw of a number below 19^7 written in base 19: as uniform as seven ``secrets.choice`` calls,
    # which cost a getrandom system call each (about 12 a number with their rejections; measured with
    # strace on POST /tickets, docs/tickets.md).
    value = secrets.randbelow(len(ALPHABET) ** RANDOM_LENGTH)
    digits = []
    for _ in range(RANDOM_LENGTH):
        value, digit = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[digit])
    body = "".join(digits)
    return format_number(body + check_character(body))


def format_number(raw: str) -> str:
    return f"{raw[:4]}-{raw[4:]}"


def normalise(text: str) -> str | None:
    """The canonical ``XXXX-XXXX`` form of what a person typed, or None if it cannot be a number."""
    raw = text.upper().replace("-", "").replace(" ", "")
    if len(raw) != RANDOM_LENGTH + 1 or any(c not in _INDEX for c in raw):
        return None
    if check_character(raw[:-1]) != raw[-1]:
        return None
    return format_number(raw)
