"""Typed identifiers: the rules live in :mod:`kernel.identifiers` because benefits validates and
hashes the identifiers departments post against (it resolves them through the lookup hashes on the
registry's person events) with exactly these rules; this module keeps the registry's import path."""

from kernel.identifiers import (
    NATIONAL_ID_TYPES,
    IdType,
    InvalidIdentifier,
    ParsedId,
    check_birth_year,
    mask,
    normalise_phone,
    parse_identifier,
    verhoeff_check_digit,
    verhoeff_checksum,
)

__all__ = [
    "NATIONAL_ID_TYPES", "IdType", "InvalidIdentifier", "ParsedId", "check_birth_year", "mask", "normalise_phone",
    "parse_identifier", "verhoeff_check_digit", "verhoeff_checksum",
]
