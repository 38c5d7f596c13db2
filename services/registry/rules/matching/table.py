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
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache, partial
from itertools import count, repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from services.registry.rules.matching.names import is_indic, name_parts, skeleton

COLUMNS = (
    "record_id", "given_name", "family_name", "guardian_name", "guardian_relation", "sex", "dob", "birth_year",
    "age_estimate", "registered_on", "area_code", "phone", "aadhaar", "nid", "brn", "household",
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

    def code_all(self, texts: list[str]) -> I32:
        """``code`` of each text, in one pass of C-level dictionary calls (new texts take their codes in
        order of first appearance, as one ``code`` call after another would give them)."""
        codes = self.codes
        fresh = [t for t in dict.fromkeys(texts) if t and t not in codes]
        codes.update(zip(fresh, count(len(self.strings))))
        self.strings.extend(fresh)
        return np.fromiter(map(codes.get, texts, repeat(MISSING)), dtype=np.int32, count=len(texts))


NAME_FIELDS = ("given", "family", "guardian")
KEY_FIELDS = ("given_key", "family_key", "guardian_key", "given_first_key", "given_second", "own_name")
CODE_FIELDS = ("relation", "sex", "dob", "byear", "byear_how", "area", "area_parent", "area_grand",
               "phone", "aadhaar", "nid13", "nid10", "brn", "household")


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


def _person_names(given_name: str, family_name: str) -> tuple[str, ...]:
    """given, family, given key, family key, key of the given name's first part, the given name's second
    part (Kamrul *Alam* and Kamrul *Islam* are brothers' names, not two spellings of one), and the whole
    name as another record's guardian would be written (a son's guardian is his father's whole name)."""
    given, family = name_parts(given_name), name_parts(family_name)
    if not given:  # only honorifics in the given column ("Bibi"), the name in the other one
        given, family = family, ()
    if not family and len(given) > 1:  # a whole name in one column: its last part is the family name
        given, family = given[:-1], given[-1:]
    return (
        " ".join(given), " ".join(family), " ".join(skeleton(p) for p in given),
        " ".join(skeleton(p) for p in family), skeleton(given[0]) if given else "",
        given[1] if len(given) > 1 else "", " ".join(given + family),
    )


GUARDIAN_PARTS = ("guardian_p0", "guardian_p1", "guardian_p2")


def _guardian_names(guardian_name: str) -> tuple[str, ...]:
    """The guardian's name, the key of its first part (the surname varies more than the first name),
    and up to three parts of it (the first two and the last), compared one by one."""
    guardian = name_parts(guardian_name)
    parts = list(guardian[:2]) + ([guardian[-1]] if len(guardian) > 2 else [])
    parts += [""] * (3 - len(parts))
    return " ".join(guardian), skeleton(guardian[0]) if guardian else "", *parts


KEYED = ("phone", "aadhaar", "nid13", "nid10", "brn")


class _Column:
    """One raw column, factorised as it is read: each distinct value once (value → the row where it first
    appears) and, per row, that first row.  One C-level dictionary pass per value, where keeping the strings
    took an interning pass, and every conversion a hashing pass and a lookup pass more."""

    __slots__ = ("first", "rows")

    def __init__(self) -> None:
        self.first: dict[str, int] = {}
        self.rows = array("q")

    def extend(self, values: Iterable[str], start: int) -> None:
        self.rows.extend(map(self.first.setdefault, values, count(start)))

    def append(self, value: str, row: int) -> None:
        self.rows.append(self.first.setdefault(value, row))

    def distinct(self) -> Distinct:
        """Each row's index among the distinct values (in order of first appearance), and those values."""
        firsts = np.fromiter(self.first.values(), dtype=np.int64, count=len(self.first))
        return np.searchsorted(firsts, np.frombuffer(self.rows, dtype=np.int64)), list(self.first)


class TableBuilder:
    """Collects records (CSV rows, registry rows) as factorised columns; ``build`` turns each column into
    codes once per distinct value, so a million records cost a dictionary lookup per value, not a parse."""

    def __init__(self, vocab: Vocab | None = None) -> None:
        self.vocab = vocab or Vocab()
        self.record_ids: list[str] = []  # nearly all distinct: kept as they are
        self.raw = {c: _Column() for c in COLUMNS if c != "record_id"}
        self.keys: dict[str, list[str]] = {c: [] for c in KEYED}

    def add(self, row: Mapping[str, str | None], keys: Mapping[str, str] | None = None) -> None:
        """One record.  ``keys``: identifier keys computed elsewhere (the registry's keyed hashes, by
        column: phone, aadhaar, nid13, nid10, brn), used instead of the row's clear values."""
        start = len(self.record_ids)
        self.record_ids.append(row.get("record_id") or "")
        for column, values in self.raw.items():
            values.append(row.get(column) or "", start)
        for column, keyed in self.keys.items():
            keyed.append((keys or {}).get(column) or "")

    def extend_columns(self, columns: Mapping[str, Sequence[str]], count: int) -> None:
        """``count`` records given column by column (a CSV read in chunks): one C-level pass per column
        instead of a Python call per value."""
        start = len(self.record_ids)
        self.record_ids.extend(columns.get("record_id") or repeat("", count))
        for column, values in self.raw.items():
            values.extend(columns.get(column) or repeat("", count), start)
        for keyed in self.keys.values():
            keyed.extend(repeat("", count))

    def extend(self, rows: Iterable[Mapping[str, str | None]]) -> TableBuilder:
        for row in rows:
            self.add(row)
        return self

    def build(self) -> RecordTable:
        raw = {c: column.distinct() for c, column in self.raw.items()}
        n = len(self.record_ids)
        ids = [rid or str(i) for i, rid in enumerate(self.record_ids)]
        cols: dict[str, I32] = {}
        names = self._coded(_per_distinct(_pairs(raw["given_name"], raw["family_name"]),
                                          lambda v: _person_names(*v)), 7)
        for k, column in enumerate(("given", "family", "given_key", "family_key", "given_first_key", "given_second",
                                 "own_name")):
            cols[column] = names[k]
        # Which script the names were written in: two spellings common in one script are two names,
        # while a Bengali spelling and its Latin form are one name romanised imperfectly.
        cols["indic"] = np.zeros(n, dtype=np.int32)
        for column in ("given_name", "family_name", "guardian_name"):
            cols["indic"] |= _ints(_per_distinct(raw[column], lambda v: (int(is_indic(v)),)), 0, n)
        guardians = self._coded(_per_distinct(raw["guardian_name"], _guardian_names), 5)
        for k, column in enumerate(("guardian", "guardian_key", *GUARDIAN_PARTS)):
            cols[column] = guardians[k]
        cols["relation"] = _ints(_per_distinct(raw["guardian_relation"],
                                               lambda v: (RELATIONS.get(v.strip().lower(), 0),)), 0, n)
        cols["sex"] = _ints(_per_distinct(raw["sex"], lambda v: (SEXES.get(v.strip().lower(), 0),)), 0, n)
        cols["dob"], cols["byear"], cols["byear_how"] = self._births(raw, n)
        areas = self._coded(_per_distinct(raw["area_code"], _area_levels), 3)
        for k, column in enumerate(("area", "area_parent", "area_grand")):
            cols[column] = areas[k]
        self._identifiers(raw, cols, n)
        # A household's reference (the registry's household, a census household number): one namespace
        # per file, compared only for equality.
        rows, households = raw["household"]
        cols["household"] = self.vocab.code_all(["household:" + v if v else "" for v in households])[rows]
        return RecordTable(ids, self.vocab, cols)

    def _coded(self, per: Distinct, width: int) -> list[I32]:
        """Per place of the converted tuples (``width`` strings each), each row's code of its string."""
        ids, converted = per
        codes = self.vocab.code_all([text for texts in converted for text in texts]).reshape(-1, width)
        return [codes[:, k][ids] for k in range(width)]

    @staticmethod
    def _births(raw: Mapping[str, Distinct], n: int) -> tuple[I32, I32, I32]:
        """(days since 1970 or -1, birth year or -1, how the year is known), vectorised: a full date;
        else a declared year, or the year prefix of a 17-digit NID or BRN; else registration year − age."""
        dob = _dates(raw["dob"])
        known = dob != MISSING
        days = np.where(known, dob, MISSING).astype(np.int32)
        date_year = (dob.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970)
        declared = _years(raw["birth_year"])
        for column, length in (("nid", 17), ("brn", 17)):
            prefix = _ints(_per_distinct(raw[column], partial(_year_prefix, length=length)), 0, n).astype(np.int64)
            declared = np.where(declared > 0, declared, prefix)
        registered = _dates(raw["registered_on"])
        reg_year = registered.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
        age = _years(raw["age_estimate"], low=0, high=130)
        estimate = np.where((registered != MISSING) & (age >= 0), reg_year - age, MISSING)
        year = np.where(known, date_year, np.where(declared > 0, declared, estimate)).astype(np.int32)
        how = np.where(known, EXACT, np.where(declared > 0, DECLARED, ESTIMATED)).astype(np.int32)
        return days, year, how

    def _identifiers(self, raw: Mapping[str, Distinct], cols: dict[str, I32], n: int) -> None:
        code = self.vocab.code
        clear = {
            "phone": _per_distinct(raw["phone"], lambda v: (phone_key(v),)),
            "aadhaar": _per_distinct(raw["aadhaar"], lambda v: (d if len(d := digits(v)) == 12 else "",)),
            "nid13": _per_distinct(raw["nid"], lambda v: (nid_keys(v)[0],)),
            "nid10": _per_distinct(raw["nid"], lambda v: (nid_keys(v)[1],)),
            "brn": _per_distinct(raw["brn"], lambda v: (d if len(d := digits(v)) in (16, 17) else "",)),
        }
        for column, (ids, converted) in clear.items():
            keyed = self.keys[column]
            if any(keyed):  # the registry's keyed hashes stand for the values
                values = [converted[i][0] for i in ids]
                cols[column] = np.fromiter(
                    (code(column + ":" + (k or v)) if (k or v) else MISSING
                     for k, v in zip(keyed, values, strict=True)), dtype=np.int32, count=n)
            else:
                cols[column] = self.vocab.code_all([column + ":" + v[0] if v[0] else "" for v in converted])[ids]


Distinct = tuple[npt.NDArray[np.int64], list[Any]]  # per row an index, per distinct value a value


def _per_distinct(values: Distinct, convert: Callable[[Any], tuple[Any, ...]]) -> Distinct:
    """``convert`` of each distinct value, beside each row's index among them."""
    ids, distinct = values
    return ids, [convert(v) for v in distinct]


def _pairs(first: Distinct, second: Distinct) -> Distinct:
    """The distinct pairs (in order of first appearance) of two factorised columns of one length."""
    (a, a_values), (b, b_values) = first, second
    joint = a * max(len(b_values), 1) + b
    if not len(joint):
        return joint, []
    order = np.argsort(joint, kind="stable")  # stable: each pair's first row comes first among its equals
    ordered = joint[order]
    starts = np.empty(len(ordered), dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1  # per sorted row, its pair's rank in sorted order
    firsts = order[starts]  # per pair (sorted order), the row where it first appears
    by_appearance = np.argsort(firsts)
    rank = np.empty(len(firsts), dtype=np.int64)
    rank[by_appearance] = np.arange(len(firsts))
    ids = np.empty(len(joint), dtype=np.int64)
    ids[order] = rank[group]
    rows = firsts[by_appearance]
    return ids, list(zip(map(a_values.__getitem__, a[rows].tolist()), map(b_values.__getitem__, b[rows].tolist()),
                         strict=True))


def _ints(per: Distinct, k: int, n: int) -> I32:
    ids, converted = per
    table = np.fromiter((c[k] for c in converted), dtype=np.int32, count=len(converted))
    return table[ids] if n else np.empty(0, dtype=np.int32)


def _year_prefix(raw: str, length: int) -> tuple[int]:
    d = digits(raw)
    year = _int(d[:4]) if len(d) == length else None
    return (year if year is not None and 1000 <= year <= 3000 else MISSING,)


def _dates(values: Distinct) -> npt.NDArray[np.int64]:
    """ISO dates as days since 1970, -1 where empty or not a date."""
    def days(v: str) -> tuple[int]:
        parsed = _date(v)
        return ((parsed - date(1970, 1, 1)).days if parsed is not None else MISSING,)
    ids, converted = _per_distinct(values, days)
    return np.asarray([c[0] for c in converted], dtype=np.int64)[ids] if len(ids) else np.empty(0, np.int64)


def _years(values: Distinct, *, low: int = 1000, high: int = 3000) -> npt.NDArray[np.int64]:
    """Whole numbers in [low, high] (years, ages), -1 elsewhere."""
    def year(v: str) -> tuple[int]:
        parsed = _int(v)
        return (parsed if parsed is not None and low <= parsed <= high else MISSING,)
    ids, converted = _per_distinct(values, year)
    return np.asarray([c[0] for c in converted], dtype=np.int64)[ids] if len(ids) else np.empty(0, np.int64)


def build_table(rows: Iterable[Mapping[str, str | None]]) -> RecordTable:
    return TableBuilder().extend(rows).build()
