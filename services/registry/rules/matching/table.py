"""The columnar record table the matcher works on: one numpy array per compared attribute.

Strings become integer codes in one shared vocabulary, so comparing two records is array indexing
and every string metric runs once per distinct pair of spellings, not once per pair of records.
Digits in Bengali or Devanagari script count as digits; phone numbers keep their last ten digits
(``+880 1712-345678``, ``01712345678`` and ``১৭১২৩৪৫৬৭৮`` agree); a 17-digit NID keeps its last 13
digits as the matching key (the 13 ↔ 17 rule) and its year prefix as a birth year.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from services.registry.rules.matching.names import name_parts, skeleton

COLUMNS = (
    "record_id", "given_name", "family_name", "guardian_name", "guardian_relation", "sex", "dob", "birth_year",
    "age_estimate", "registered_on", "area_code", "phone", "aadhaar", "nid", "brn",
)
RELATIONS = {"father": 1, "husband": 2, "mother": 3, "wife": 4}
SEXES = {"f": 1, "female": 1, "m": 2, "male": 2, "o": 3, "other": 3}
# How a birth year is known: 0 from a full date, 1 declared as a year (or an ID's year prefix), 2 an age estimate.
EXACT, DECLARED, ESTIMATED = 0, 1, 2
MISSING = -1
I32 = npt.NDArray[np.int32]


@dataclass
class Vocab:
    """String ↔ integer code; code 0.. in insertion order."""

    codes: dict[str, int] = field(default_factory=dict)
    strings: list[str] = field(default_factory=list)

    def code(self, text: str) -> int:
        if not text:
            return MISSING
        found = self.codes.get(text)
        if found is None:
            found = self.codes[text] = len(self.strings)
            self.strings.append(text)
        return found


NAME_FIELDS = ("given", "family", "guardian")
KEY_FIELDS = ("given_key", "family_key", "guardian_key", "given_first_key")
CODE_FIELDS = ("relation", "sex", "dob", "byear", "byear_how", "area", "area_parent", "area_grand",
               "phone", "aadhaar", "nid13", "nid10", "brn")


@dataclass
class RecordTable:
    """Arrays of one length: codes into ``vocab`` (names, keys, areas, IDs) or plain integers."""

    ids: list[str]
    vocab: Vocab
    cols: dict[str, I32]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, name: str) -> I32:
        return self.cols[name]


_NATIVE_DIGITS = str.maketrans({chr(base + i): str(i) for base in (0x09E6, 0x0966) for i in range(10)})
_NOT_DIGIT = re.compile(r"[^0-9]+")


def digits(raw: str | None) -> str:
    """ASCII digits of a value written with Latin, Bengali or Devanagari digits."""
    if not raw:
        return ""
    if not raw.isascii():
        raw = unicodedata.normalize("NFKC", raw).translate(_NATIVE_DIGITS)
    return _NOT_DIGIT.sub("", raw)


def phone_key(raw: str | None) -> str:
    d = digits(raw)
    return d[-10:] if len(d) >= 10 else ""


def nid_keys(raw: str | None) -> tuple[str, str, int | None]:
    """(13-digit key, 10-digit key, year prefix) of a Bangladesh NID in any of its forms."""
    d = digits(raw)
    if len(d) == 17:
        return d[4:], "", int(d[:4])
    if len(d) == 13:
        return d, "", None
    if len(d) == 10:
        return "", d, None
    return "", "", None


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw.strip()) if raw and raw.strip() else None
    except ValueError:
        return None


def _int(raw: str | int | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(digits(str(raw)) or "x")
    except ValueError:
        return None


def birth(row: Mapping[str, str | None], nid_year: int | None) -> tuple[int, int, int]:
    """(dob as days since 1970 or -1, birth year or -1, how the year is known)."""
    dob = _date(row.get("dob"))
    if dob is not None:
        return (dob - date(1970, 1, 1)).days, dob.year, EXACT
    year = _int(row.get("birth_year")) or nid_year
    if year:
        return MISSING, year, DECLARED
    age = _int(row.get("age_estimate"))
    registered = _date(row.get("registered_on"))
    if age is not None and registered is not None:
        return MISSING, registered.year - age, ESTIMATED
    return MISSING, MISSING, ESTIMATED


@lru_cache(maxsize=100_000)
def _area_levels(code: str) -> tuple[str, str, str]:
    parts = code.strip().upper().split("-") if code else []
    if not parts:
        return "", "", ""
    return "-".join(parts), "-".join(parts[:-1]), "-".join(parts[:-2])


_NAME_COLUMNS = ("given", "family", "guardian", "given_key", "family_key", "guardian_key", "given_first_key")


@lru_cache(maxsize=500_000)
def _names(given_name: str, family_name: str, guardian_name: str) -> tuple[str, ...]:
    """The name columns of a record, in ``_NAME_COLUMNS`` order."""
    given, family = name_parts(given_name), name_parts(family_name)
    if not given:  # only honorifics in the given column ("Bibi"), the name in the other one
        given, family = family, ()
    if not family and len(given) > 1:  # a whole name in one column: its last part is the family name
        given, family = given[:-1], given[-1:]
    guardian = name_parts(guardian_name)
    return (
        " ".join(given), " ".join(family), " ".join(guardian),
        " ".join(skeleton(p) for p in given), " ".join(skeleton(p) for p in family),
        skeleton(guardian[0]) if guardian else "",  # a guardian's first name: the surname varies more
        skeleton(given[0]) if given else "",
    )


class TableBuilder:
    """Appends records one by one (CSV rows, registry rows) and hands out the arrays."""

    def __init__(self, vocab: Vocab | None = None) -> None:
        self.vocab = vocab or Vocab()
        self.ids: list[str] = []
        self.rows: dict[str, list[int]] = {k: [] for k in (*NAME_FIELDS, *KEY_FIELDS, *CODE_FIELDS)}

    def add(self, row: Mapping[str, str | None], keys: Mapping[str, str] | None = None) -> None:
        """One record.  ``keys``: identifier keys computed elsewhere (the registry's keyed hashes, by
        column: phone, aadhaar, nid13, nid10, brn), used instead of the row's clear values."""
        code = self.vocab.code
        out = self.rows
        self.ids.append(str(row.get("record_id") or len(self.ids)))
        names = _names(row.get("given_name") or "", row.get("family_name") or "", row.get("guardian_name") or "")
        for column, value in zip(_NAME_COLUMNS, names, strict=True):
            out[column].append(code(value))
        out["relation"].append(RELATIONS.get((row.get("guardian_relation") or "").strip().lower(), 0))
        out["sex"].append(SEXES.get((row.get("sex") or "").strip().lower(), 0))
        nid13, nid10, nid_year = nid_keys(row.get("nid"))
        brn = digits(row.get("brn"))
        dob, year, how = birth(row, nid_year or (int(brn[:4]) if len(brn) == 17 else None))
        out["dob"].append(dob)
        out["byear"].append(year)
        out["byear_how"].append(how)
        for name, value in zip(("area", "area_parent", "area_grand"), _area_levels(row.get("area_code") or ""),
                               strict=True):
            out[name].append(code(value))
        aadhaar = digits(row.get("aadhaar"))
        clear = {"phone": phone_key(row.get("phone")), "aadhaar": aadhaar if len(aadhaar) == 12 else "",
                 "nid13": nid13, "nid10": nid10, "brn": brn if len(brn) in (16, 17) else ""}
        for column, value in clear.items():
            value = (keys or {}).get(column) or value
            out[column].append(code(column + ":" + value) if value else MISSING)

    def extend(self, rows: Iterable[Mapping[str, str | None]]) -> TableBuilder:
        for row in rows:
            self.add(row)
        return self

    def build(self) -> RecordTable:
        cols = {k: np.asarray(v, dtype=np.int32) for k, v in self.rows.items()}
        return RecordTable(list(self.ids), self.vocab, cols)


def build_table(rows: Iterable[Mapping[str, str | None]]) -> RecordTable:
    return TableBuilder().extend(rows).build()
