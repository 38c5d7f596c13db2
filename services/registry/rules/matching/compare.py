"""Agreement levels of record pairs, one small integer per compared field.

Level 0 always means "cannot say" (a value missing on either side): it carries no weight.  Names
are compared on their romanised forms (Jaro-Winkler from rapidfuzz, computed once per distinct pair
of spellings) and on their consonant skeletons; given and family names are compared in whichever
order agrees better, so a swapped name is not a disagreement.  A guardian is compared only when both
records name the same kind of guardian (a woman's father on one list and her husband on another say
nothing about each other).  Birth compares full dates, declared years and ages estimated at a
registration date, with wider bands when a year is only an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from services.registry.rules.matching.arrays import distinct_inverse
from services.registry.rules.matching.table import ESTIMATED, EXACT, RecordTable

I64 = npt.NDArray[Any]  # pair indices: int64 or int32
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Field:
    name: str
    levels: tuple[str, ...]  # labels of levels 1..n (0 is "missing")


NAME_LEVELS = ("different", "similar", "close", "exact")
FIELDS: tuple[Field, ...] = (
    Field("given_name", NAME_LEVELS),
    Field("family_name", NAME_LEVELS),
    Field("guardian", NAME_LEVELS),
    Field("sex", ("different", "same")),
    Field("birth", ("over 10 years apart", "full dates differ, within a year", "4 to 10 years apart",
                    "within 6 years (estimate)", "within 3 years", "within 1 year", "same year", "same date")),
    Field("phone", ("different", "same")),
    Field("aadhaar", ("different", "same")),
    Field("nid", ("different", "same")),
    Field("brn", ("different", "same")),
    Field("area", ("elsewhere", "same upazila/block", "sibling area", "same area")),
)
FIELD_INDEX = {f.name: i for i, f in enumerate(FIELDS)}
SIMILAR, CLOSE = 0.86, 0.93


class Similarity:
    """Jaro-Winkler of code pairs, computed once per distinct pair of spellings."""

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings
        self.initials = Initials(strings)

    def __call__(self, a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
        out = np.zeros(len(a), dtype=np.float32)
        both = (a >= 0) & (b >= 0)
        if not both.any():
            return out
        width = len(self.strings) + 1
        codes, where = distinct_inverse(a[both].astype(np.int64) * width + b[both])
        left = [self.strings[i] for i in (codes // width)]
        right = [self.strings[i] for i in (codes % width)]
        sims = cpdist(left, right, scorer=JaroWinkler.normalized_similarity, workers=1, dtype=np.float32)
        out[both] = np.asarray(sims)[where]
        return out


def _name_level(sim: npt.NDArray[np.float32], same_text: npt.NDArray[np.bool_], same_key: npt.NDArray[np.bool_],
                present: npt.NDArray[np.bool_], same_start: npt.NDArray[np.bool_]) -> U8:
    # Rhyming names (Rakib and Sakib, twins' names often are) are close by any edit distance; a
    # different first sound with a different skeleton is another name, not a typo.
    level = np.where(same_text, 4, np.where(sim >= CLOSE, 3, np.where((sim >= SIMILAR) | same_key, 2, 1)))
    level = np.where(same_start | same_key | same_text, level, 1)
    return np.where(present, level, 0).astype(np.uint8)


class Initials:
    """The first sound of each spelling code (all vowels one sound: Imran and Emran), kept in an array
    that grows with the vocabulary (an incremental check adds a few spellings at a time)."""

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings
        self.known = 0
        self.table = np.zeros(1024, dtype=np.int32)

    def __call__(self, codes: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        size = len(self.strings)
        if size >= len(self.table) - 1:
            grown = np.zeros(max(2 * len(self.table), size + 2), dtype=np.int32)
            grown[: self.known] = self.table[: self.known]
            self.table = grown
        for i in range(self.known, size):
            first = self.strings[i][:1]
            self.table[i] = 0 if not first else (ord("a") if first in "aeiouy" else ord(first))
        self.known = size
        self.table[-1] = 0  # code -1 (missing) reads the last slot
        return self.table[codes]


def _present(x: npt.NDArray[np.int32], y: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
    return (x >= 0) & (y >= 0)


def _names(a: RecordTable, left: I64, b: RecordTable, right: I64, sim: Similarity) -> tuple[U8, U8]:
    gl, gr, fl, fr = a["given"][left], b["given"][right], a["family"][left], b["family"][right]
    gkl, gkr0, fkl, fkr0 = a["given_key"][left], b["given_key"][right], a["family_key"][left], b["family_key"][right]
    gg, ff, gf, fg = sim(gl, gr), sim(fl, fr), sim(gl, fr), sim(fl, gr)
    # Swapped only when a crossed name agrees closely and the crossed reading beats the straight one.
    swap = (gf + fg > gg + ff + 0.05) & (np.maximum(gf, fg) >= CLOSE)
    ini = sim.initials
    igl, igr, ifl, ifr = ini(gl), ini(gr), ini(fl), ini(fr)
    given = _name_level(gg, gl == gr, gkl == gkr0, _present(gl, gr), igl == igr)
    family = _name_level(ff, fl == fr, fkl == fkr0, _present(fl, fr), ifl == ifr)
    crossed_a = _name_level(gf, gl == fr, gkl == fkr0, _present(gl, fr), igl == ifr)
    crossed_b = _name_level(fg, fl == gr, fkl == gkr0, _present(fl, gr), ifl == igr)
    # Of a swapped pair, the weaker agreement counts as the given name's: sisters Rekha Nishad and
    # "Nishad, Divya" agree on the family name only, however the columns were filled.
    given = np.where(swap, np.minimum(crossed_a, crossed_b), given).astype(np.uint8)
    family = np.where(swap, np.maximum(crossed_a, crossed_b), family).astype(np.uint8)
    return given, family


def _guardian(a: RecordTable, left: I64, b: RecordTable, right: I64, sim: Similarity) -> U8:
    x, y = a["guardian"][left], b["guardian"][right]
    rel_l, rel_r = a["relation"][left], b["relation"][right]
    comparable = (rel_l == rel_r) | (rel_l == 0) | (rel_r == 0)
    same_key = a["guardian_key"][left] == b["guardian_key"][right]
    level = _name_level(sim(x, y), x == y, same_key, _present(x, y), sim.initials(x) == sim.initials(y))
    return np.where(comparable, level, 0).astype(np.uint8)


def _equal(a: RecordTable, left: I64, b: RecordTable, right: I64, column: str) -> U8:
    x, y = a[column][left], b[column][right]
    return np.where(_present(x, y), np.where(x == y, 2, 1), 0).astype(np.uint8)


def _sex(a: RecordTable, left: I64, b: RecordTable, right: I64) -> U8:
    x, y = a["sex"][left], b["sex"][right]
    return np.where((x > 0) & (y > 0), np.where(x == y, 2, 1), 0).astype(np.uint8)


def _birth(a: RecordTable, left: I64, b: RecordTable, right: I64) -> U8:
    year_l, year_r = a["byear"][left], b["byear"][right]
    how_l, how_r = a["byear_how"][left], b["byear_how"][right]
    gap = np.abs(year_l - year_r)
    estimated = (how_l == ESTIMATED) | (how_r == ESTIMATED)
    both_dates = (how_l == EXACT) & (how_r == EXACT)
    same_date = both_dates & (a["dob"][left] == b["dob"][right])
    # Two full dates that differ say more than two years that agree: siblings a year apart, not one child.
    level = np.select(
        [same_date, both_dates & (gap <= 1), gap == 0, gap <= 1, gap <= 3, estimated & (gap <= 6), gap <= 10],
        [8, 2, 7, 6, 5, 4, 3], default=1,
    )
    return np.where(_present(year_l, year_r), level, 0).astype(np.uint8)


def _area(a: RecordTable, left: I64, b: RecordTable, right: I64) -> U8:
    same = [a[c][left] == b[c][right] for c in ("area", "area_parent", "area_grand")]
    level = np.select(same, [4, 3, 2], default=1)
    return np.where(_present(a["area"][left], b["area"][right]), level, 0).astype(np.uint8)


def compare(a: RecordTable, left: I64, b: RecordTable, right: I64, sim: Similarity | None = None) -> U8:
    """Levels of records ``a[left[i]]`` and ``b[right[i]]`` as a (pairs × fields) array, in ``FIELDS`` order.
    ``a`` and ``b`` share one vocabulary (often they are the same table)."""
    if not len(left):
        return np.zeros((0, len(FIELDS)), dtype=np.uint8)
    sim = sim or Similarity(a.vocab.strings)
    given, family = _names(a, left, b, right, sim)
    columns = [
        given, family, _guardian(a, left, b, right, sim), _sex(a, left, b, right), _birth(a, left, b, right),
        _equal(a, left, b, right, "phone"), _equal(a, left, b, right, "aadhaar"), _nid(a, left, b, right),
        _equal(a, left, b, right, "brn"), _area(a, left, b, right),
    ]
    return np.stack(columns, axis=1)


def _nid(a: RecordTable, left: I64, b: RecordTable, right: I64) -> U8:
    """13/17-digit keys compare with each other, 10-digit smart-card numbers with each other."""
    return np.maximum(_equal(a, left, b, right, "nid13"), _equal(a, left, b, right, "nid10"))
