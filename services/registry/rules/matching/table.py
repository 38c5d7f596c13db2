"""The columnar record table the matcher works on: one numpy array per compared attribute.

Strings become integer codes in one shared vocabulary, so comparing two records is array indexing
and every string metric runs once per distinct pair of spellings, not once per pair of records.
Digits in Bengali or Devanagari script count as digits; phone numbers keep their last ten digits
(``+880 1712-345678``, ``01712345678`` and ``১৭১২৩৪৫৬৭৮`` agree); a 17-digit NID keeps its last 13
digits as the matching key (the 13 ↔ 17 rule) and its year prefix as a birth year.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

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


def digits(raw: str | None) -> str:
    """ASCII digits of a value written with Latin, Bengali or Devanagari digits."""
    if not raw:
        return ""
    return "".join(str(unicodedata.digit(ch)) for ch in raw if unicodedata.digit(ch, None) is not None)


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


def _area_levels(code: str) -> tuple[str, str, str]:
    parts = code.strip().upper().split("-") if code else []
    if not parts:
        return "", "", ""
    return "-".join(parts), "-".join(parts[:-1]), "-".join(parts[:-2])


class TableBuilder:
    """Appends records one by one (CSV rows, registry rows) and hands out the arrays."""

    def __init__(self, vocab: Vocab | None = None) -> None:
        self.vocab = vocab or Vocab()
        self.ids: list[str] = []
        self.rows: dict[str, list[int]] = {k: [] for k in (*NAME_FIELDS, *KEY_FIELDS, *CODE_FIELDS)}

    def add(self, row: Mapping[str, str | None]) -> None:
        code = self.vocab.code
        out = self.rows
        self.ids.append(str(row.get("record_id") or len(self.ids)))
        given, family = name_parts(row.get("given_name") or ""), name_parts(row.get("family_name") or "")
        if not given:  # only honorifics in the given column ("Bibi"), the name in the other one
            given, family = family, ()
        if not family and len(given) > 1:  # a whole name in one column: its last part is the family name
            given, family = given[:-1], given[-1:]
        guardian = name_parts(row.get("guardian_name") or "")
        for name, parts in (("given", given), ("family", family), ("guardian", guardian)):
            out[name].append(code(" ".join(parts)))
        out["given_key"].append(code(" ".join(skeleton(p) for p in given)))
        out["family_key"].append(code(" ".join(skeleton(p) for p in family)))
        out["guardian_key"].append(code(skeleton(guardian[0]) if guardian else ""))  # a first name: surnames vary
        out["given_first_key"].append(code(skeleton(given[0]) if given else ""))
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
        out["phone"].append(code("p" + key) if (key := phone_key(row.get("phone"))) else MISSING)
        aadhaar = digits(row.get("aadhaar"))
        out["aadhaar"].append(code("a" + aadhaar) if len(aadhaar) == 12 else MISSING)
        out["nid13"].append(code("n" + nid13) if nid13 else MISSING)
        out["nid10"].append(code("s" + nid10) if nid10 else MISSING)
        out["brn"].append(code("b" + brn) if len(brn) in (16, 17) else MISSING)

    def extend(self, rows: Iterable[Mapping[str, str | None]]) -> TableBuilder:
        for row in rows:
            self.add(row)
        return self

    def build(self) -> RecordTable:
        cols = {k: np.asarray(v, dtype=np.int32) for k, v in self.rows.items()}
        return RecordTable(list(self.ids), self.vocab, cols)


def build_table(rows: Iterable[Mapping[str, str | None]]) -> RecordTable:
    return TableBuilder().extend(rows).build()
