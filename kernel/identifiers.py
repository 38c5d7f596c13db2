"""Typed identifiers: validation, normalisation and the keyed lookup hash.

Shared by the registry (which stores them) and benefits (which resolves the identifiers departments
post against through the lookup hashes on the registry's person events).

Each identifier is reduced to a *matching key*: the canonical form two records must share to
be "the same identifier".  The 13- and 17-digit Bangladesh NID forms share one key (the 17-digit
form is the 4-digit birth year followed by the 13-digit number).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date
from enum import Enum

import phonenumbers


class IdType(str, Enum):
    AADHAAR = "aadhaar"
    BD_NID = "bd_nid"
    BD_BRN = "bd_brn"
    RATION_CARD = "ration_card"
    VOTER_ID = "voter_id"
    PHONE = "phone"


NATIONAL_ID_TYPES = frozenset({IdType.AADHAAR, IdType.BD_NID, IdType.BD_BRN})


class InvalidIdentifier(ValueError):
    """The value is not a valid identifier of its type; ``reason`` says why (safe to show)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedId:
    id_type: IdType
    value: str  # normalised as entered (digits only, upper case, or E.164)
    match_key: str  # what equality and the lookup hash are computed on
    form: str  # e.g. nid13, nid17, nid10, brn17, aadhaar, e164
    birth_year: int | None = None  # from a 17-digit NID/BRN year prefix

    @property
    def last4(self) -> str:
        return self.value[-4:]


# Verhoeff tables: multiplication in the dihedral group D5 and the position permutation.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff_checksum(digits: str) -> int:
    """0 for a number whose last digit is a valid Verhoeff check digit."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c


def verhoeff_check_digit(digits: str) -> str:
    """The digit to append to ``digits`` so the whole passes the Verhoeff check."""
    return str(_INV[verhoeff_checksum(digits + "0")])


_SEPARATORS = re.compile(r"[\s\-./]")
_AADHAAR = re.compile(r"^[2-9]\d{11}$")
_EPIC = re.compile(r"^[A-Z]{3}\d{7}$")
_RATION = re.compile(r"^[A-Z0-9]{4,20}$")
_MIN_BIRTH_YEAR = 1900


def _digits(raw: str, label: str) -> str:
    value = _SEPARATORS.sub("", raw)
    if not value.isascii() or not value.isdigit():
        raise InvalidIdentifier(f"{label} must contain only digits (spaces and hyphens are ignored)")
    return value


def _year_prefix(value: str, label: str, today: date) -> int:
    year = int(value[:4])
    if not _MIN_BIRTH_YEAR <= year <= today.year:
        raise InvalidIdentifier(f"{label} starts with {year}, which is not a plausible birth year")
    return year


def _aadhaar(raw: str) -> ParsedId:
    value = _digits(raw, "Aadhaar")
    if not _AADHAAR.match(value):
        raise InvalidIdentifier("Aadhaar must be 12 digits and must not start with 0 or 1")
    if verhoeff_checksum(value) != 0:
        raise InvalidIdentifier("Aadhaar check digit (Verhoeff) does not match")
    return ParsedId(IdType.AADHAAR, value, value, "aadhaar")


def _bd_nid(raw: str, today: date) -> ParsedId:
    value = _digits(raw, "NID")
    if len(value) == 10:
        return ParsedId(IdType.BD_NID, value, "10:" + value, "nid10")
    if len(value) == 13:
        return ParsedId(IdType.BD_NID, value, "13:" + value, "nid13")
    if len(value) == 17:
        year = _year_prefix(value, "17-digit NID", today)
        return ParsedId(IdType.BD_NID, value, "13:" + value[4:], "nid17", birth_year=year)
    raise InvalidIdentifier(f"Bangladesh NID must have 10, 13 or 17 digits, not {len(value)}")


def _bd_brn(raw: str, today: date) -> ParsedId:
    value = _digits(raw, "Birth registration number")
    if len(value) == 16:
        raise InvalidIdentifier(
            "16-digit birth registration numbers predate BDRIS; the holder must re-register online "
            "for the 17-digit number"
        )
    if len(value) != 17:
        raise InvalidIdentifier(f"Birth registration number must have 17 digits, not {len(value)}")
    year = _year_prefix(value, "Birth registration number", today)
    return ParsedId(IdType.BD_BRN, value, value, "brn17", birth_year=year)


def _ration_card(raw: str) -> ParsedId:
    value = _SEPARATORS.sub("", raw).upper()
    if not _RATION.match(value):
        raise InvalidIdentifier("Ration card number must be 4-20 letters or digits")
    return ParsedId(IdType.RATION_CARD, value, value, "ration_card")


def _voter_id(raw: str) -> ParsedId:
    value = _SEPARATORS.sub("", raw).upper()
    if not _EPIC.match(value):
        raise InvalidIdentifier("Voter ID (EPIC) must be 3 letters followed by 7 digits")
    return ParsedId(IdType.VOTER_ID, value, value, "epic")


def _phone(raw: str, region: str) -> ParsedId:
    value = normalise_phone(raw, region)
    return ParsedId(IdType.PHONE, value, value, "e164")


def normalise_phone(raw: str, region: str) -> str:
    """E.164 (``+8801712345678``) from a national or international form; ``region`` is IN or BD."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier("Phone number cannot be parsed") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(f"Phone number is not a valid number for {region} or in international form")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_identifier(id_type: IdType | str, raw: str, *, region: str = "IN", today: date | None = None) -> ParsedId:
    """Validate and normalise; raises :class:`InvalidIdentifier` with a reason a person can act on."""
    kind = IdType(id_type)
    if not raw or len(raw) > 64:
        raise InvalidIdentifier("Identifier must be 1-64 characters")
    today = today or date.today()
    match kind:
        case IdType.AADHAAR:
            return _aadhaar(raw)
        case IdType.BD_NID:
            return _bd_nid(raw, today)
        case IdType.BD_BRN:
            return _bd_brn(raw, today)
        case IdType.RATION_CARD:
            return _ration_card(raw)
        case IdType.VOTER_ID:
            return _voter_id(raw)
        case IdType.PHONE:
            return _phone(raw, region)
    raise InvalidIdentifier(f"Unknown identifier type {id_type}")  # pragma: no cover


def check_birth_year(parsed: ParsedId, birth_date: date | None, *, estimated: bool) -> str | None:
    """The reason a DOB contradicts the ID's year prefix, or None.

    An exact DOB must match the prefix year; an estimated one is replaced by evidence from the ID,
    so only a gross mismatch (over 5 years) is rejected.
    """
    if parsed.birth_year is None or birth_date is None:
        return None
    label = "birth registration number" if parsed.id_type is IdType.BD_BRN else "17-digit NID"
    if not estimated and birth_date.year != parsed.birth_year:
        return (
            f"Date of birth {birth_date.isoformat()} contradicts the {label}, whose year prefix is "
            f"{parsed.birth_year}; correct the date of birth or the number"
        )
    if estimated and abs(birth_date.year - parsed.birth_year) > 5:
        return f"Estimated birth year {birth_date.year} is far from the {label}'s year prefix {parsed.birth_year}"
    return None


def mask(value: str) -> str:
    """Last-four display, ``XXXX XXXX 1234``, for every identifier type (the length is hidden too)."""
    return f"XXXX XXXX {value[-4:]}"


def keyed_lookup_hash(key: str, id_type: str, match_key: str) -> str:
    """HMAC-SHA256 (hex) of ``<type>:<matching key>``: the registry's stored lookup hash, also carried
    on its person events (``identifier_hashes``) so a holder of the key can resolve an identifier
    without the value ever travelling."""
    return hmac.new(key.encode(), f"{id_type}:{match_key}".encode(), hashlib.sha256).hexdigest()
