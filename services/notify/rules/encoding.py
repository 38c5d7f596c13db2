"""SMS encoding and segment counts: GSM-7 (160 alone, 153 per part) or UCS-2 (70 alone, 67 per part).

One character outside the GSM 03.38 alphabet turns the whole message into UCS-2, so Hindi and
Bengali SMS are always UCS-2.  A GSM extension character (``{ } [ ] ~ \\ | ^ €`` and form feed)
takes two septets.  UCS-2 counts UTF-16 code units (a character beyond the BMP takes two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
MAX_BODY_CHARS = 1600  # Twilio refuses longer bodies


@dataclass(frozen=True)
class EncodingInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # capacity of each part at this length


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def encode_info(text: str) -> EncodingInfo:
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    if units <= single:
        return EncodingInfo(encoding, units, 1 if units else 0, single)
    return EncodingInfo(encoding, units, math.ceil(units / part), part)


def estimated_cost(segments: int, per_segment: float) -> float:
    """What the provider bills: every part of a concatenated message is a full message."""
    return round(segments * per_segment, 4)
