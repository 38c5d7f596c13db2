"""Agreement levels of record pairs, one small integer per compared field.

Level 0 always means "cannot say" (a value missing on either side): it carries no weight.  Names
are compared on their romanised forms (Jaro-Winkler from rapidfuzz, computed once per distinct pair
of spellings) and on their consonant skeletons; given and family names are compared in whichever
order agrees better, so a swapped name is not a disagreement.  A guardian is compared only when both
records name the same kind of guardian (a woman's father on one list and her husband on another say
nothing about each other).  Birth compares full dates, declared years and ages estimated at a
registration date, with wider bands when a year is only an estimate.  A household reference is
compared for equality only: the same household is evidence for one person, a different one weak evidence
against (people marry, move and split households); a son named after his father lives in the same
household, and is kept apart by the birth (``engine.is_hard_negative``), not by the household.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from services.registry.rules.matching.arrays import distinct_inverse
from services.registry.rules.matching.table import ESTIMATED, EXACT, GUARDIAN_PARTS, RecordTable

I64 = npt.NDArray[Any]  # pair indices: int64 or int32
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Field:
    name: str
    levels: tuple[str, ...]  # labels of levels 1..n (0 is "missing")


NAME_LEVELS = ("different", "similar", "close", "exact")
# A son named after his father: his guardian is the other record's own name, and the two guardians differ
# (his father against his grandfather).  With the same household, phone and ward, only a birth tells
# them apart, and a record without one needs this level (engine.is_hard_negative).
NAMES_THE_OTHER = "different: one record's guardian is the other's own name"
GUARDIAN_LEVELS = (*NAME_LEVELS, NAMES_THE_OTHER)
FIELDS: tuple[Field, ...] = (
    # First: a pattern packs the fields most significant first, so a pattern stored before the household
    # was compared (household level 0) keeps its number, and reviewers' decisions on it still count.
    Field("household", ("different", "same")),
    Field("given_name", NAME_LEVELS),
    Field("family_name", NAME_LEVELS),
    Field("guardian", GUARDIAN_LEVELS),
    Field("sex", ("different", "same")),
    Field("birth", ("apart beyond recording error", "full dates differ, within a year", "4 to 6 years (an estimate)",
                    "2 or 3 years (declared)", "within 3 years (an estimate)", "within 1 year", "same year",
                    "same date")),
    Field("phone", ("different", "same")),
    Field("aadhaar", ("different", "same")),
    Field("nid", ("different", "same")),
    Field("brn", ("different", "same")),
    Field("area", ("elsewhere", "same upazila/block", "sibling area", "same area")),
)
FIELD_INDEX = {f.name: i for i, f in enumerate(FIELDS)}
SIMILAR, CLOSE = 0.86, 0.93
COMMON_SPELLING, COMMON_RATIO = 5, 0.05  # a spelling held this often, and not 20 times rarer than the other
DECLARED_ERROR, ESTIMATE_ERROR = 3, 6  # years a birth year can be off, declared or dated / estimated from an age


class Similarity:
    """Jaro-Winkler of code pairs, computed once per distinct pair of spellings; with ``counts`` (how
    often each spelling occurs in the population), two spellings that are both common and do not share
    a skeleton are two names, however close they are: Rajesh and Ramesh, Kamla and Kamlesh.  A typo
    makes a rare spelling; two names each held by many people are not one name misspelt."""

    def __init__(self, strings: list[str], counts: npt.NDArray[np.int64] | None = None) -> None:
        self.strings = strings
        self.initials = Initials(strings)
        self.skeletons = Skeletons(strings)
        self.counts = counts

    def two_names(self, a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
        if self.counts is None:
            return np.zeros(len(a), dtype=bool)
        size = self.counts.shape[1]
        common = np.zeros(len(a), dtype=bool)
        for counts in self.counts:  # per script
            ca = np.where((a >= 0) & (a < size), counts[np.clip(a, 0, size - 1)], 0)
            cb = np.where((b >= 0) & (b < size), counts[np.clip(b, 0, size - 1)], 0)
            low, high = np.minimum(ca, cb), np.maximum(ca, cb)
            common |= (low >= COMMON_SPELLING) & (low >= COMMON_RATIO * high)
        return common & (self.skeletons(a) != self.skeletons(b))

    def __call__(self, a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
        # One spelling against itself is 1.0 without a look-up: the blocked pairs mostly share their names.
        out = np.where((a == b) & (a >= 0), 1.0, 0.0).astype(np.float32)
        both = (a >= 0) & (b >= 0) & (a != b)
        if not both.any():
            return out
        width = len(self.strings) + 1
        codes, where = distinct_inverse(a[both].astype(np.int64) * width + b[both])
        left = [self.strings[i] for i in (codes // width)]
        right = [self.strings[i] for i in (codes % width)]
        sims = cpdist(left, right, scorer=JaroWinkler.normalized_similarity, workers=1, dtype=np.float32)
        out[both] = np.asarray(sims)[where]
        return out


def _name_level(sim: npt.NDArray[np.float32], x: npt.NDArray[np.int32], y: npt.NDArray[np.int32],
                same_key: npt.NDArray[np.bool_], same_start: npt.NDArray[np.bool_], similarity: Similarity) -> U8:
    # Rhyming names (Rakib and Sakib, twins' names often are) are close by any edit distance; a
    # different first sound with a different skeleton is another name, not a typo.
    same_text = x == y
    level = np.where(same_text, 4, np.where(sim >= CLOSE, 3, np.where((sim >= SIMILAR) | same_key, 2, 1)))
    level = np.where(same_start | same_key | same_text, level, 1)
    # Two common names are two names: asked only of the pairs it can still change.
    ask = np.nonzero((level > 1) & ~same_text)[0]
    if len(ask):
        level[ask[similarity.two_names(x[ask], y[ask])]] = 1
    return np.where(_present(x, y), level, 0).astype(np.uint8)


def name_level(x: npt.NDArray[np.int32], y: npt.NDArray[np.int32], sim: Similarity,
               same_key: npt.NDArray[np.bool_] | None = None) -> U8:
    """The level of two name spellings (codes).  Jaro-Winkler is computed only where it decides the
    level: two present, different spellings that share their first sound or skeleton (the same
    spelling is exact, a different first sound and skeleton is "different" whatever the distance)."""
    same_key = sim.skeletons(x) == sim.skeletons(y) if same_key is None else same_key
    same_start = sim.initials(x) == sim.initials(y)
    need = np.nonzero(_present(x, y) & (x != y) & (same_start | same_key))[0]
    values = np.zeros(len(x), dtype=np.float32)
    if len(need):
        values[need] = sim(x[need], y[need])
    return _name_level(values, x, y, same_key, same_start, sim)


class _PerCode:
    """A value per spelling code, kept in an array that grows with the vocabulary (an incremental check
    adds a few spellings at a time); code -1 (missing) reads the last slot, 0."""

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings
        self.known = 0
        self.table = np.zeros(1024, dtype=np.int32)

    def of(self, text: str) -> int:
        raise NotImplementedError

    def __call__(self, codes: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        size = len(self.strings)
        if size >= len(self.table) - 1:
            grown = np.zeros(max(2 * len(self.table), size + 2), dtype=np.int32)
            grown[: self.known] = self.table[: self.known]
            self.table = grown
        for i in range(self.known, size):
            self.table[i] = self.of(self.strings[i])
        self.known = size
        self.table[-1] = 0
        return self.table[codes]


_CONSONANTS = re.compile(r"[aeiou]+")


class Skeletons(_PerCode):
    """The consonants of each folded spelling, in order (finer than the search key, which folds
    Sumaiya and Shamima together), as a small integer."""

    def __init__(self, strings: list[str]) -> None:
        super().__init__(strings)
        self.ids: dict[str, int] = {}

    def of(self, text: str) -> int:
        key = _CONSONANTS.sub("", text)
        return self.ids.setdefault(key, len(self.ids) + 1)


class Initials(_PerCode):
    """The first sound of each spelling code (all vowels one sound: Imran and Emran)."""

    def of(self, text: str) -> int:
        first = text[:1]
        return 0 if not first else (ord("a") if first in "aeiouy" else ord(first))


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
    given = _name_level(gg, gl, gr, gkl == gkr0, igl == igr, sim)
    family = _name_level(ff, fl, fr, fkl == fkr0, ifl == ifr, sim)
    crossed_a = _name_level(gf, gl, fr, gkl == fkr0, igl == ifr, sim)
    crossed_b = _name_level(fg, fl, gr, fkl == gkr0, ifl == igr, sim)
    # Two-part given names whose second parts plainly differ are two names, however alike the whole
    # strings are: brothers are often Kamrul Alam and Kamrul Islam, Mahmudul Hasan and Mahmudul Karim.
    second = name_level(a["given_second"][left], b["given_second"][right], sim)
    given = np.where(second == 1, 1, given)
    # Of a swapped pair, the weaker agreement counts as the given name's: sisters Rekha Nishad and
    # "Nishad, Divya" agree on the family name only, however the columns were filled.
    given = np.where(swap, np.minimum(crossed_a, crossed_b), given).astype(np.uint8)
    family = np.where(swap, np.maximum(crossed_a, crossed_b), family).astype(np.uint8)
    return given, family


def _guardian(a: RecordTable, left: I64, b: RecordTable, right: I64, sim: Similarity) -> U8:
    """Guardians part by part: every part of the shorter name must find itself in the other name.  As
    whole strings Kailash Mishra and Krishna Mishra, or Shafiqul Rahman Chowdhury and Shafiqul Rahman
    Howlader, look alike; they are other men.  Abdul Karim and Abdul Karim Khan may be one (close)."""
    x, y = a["guardian"][left], b["guardian"][right]
    rel_l, rel_r = a["relation"][left], b["relation"][right]
    comparable = (rel_l == rel_r) | (rel_l == 0) | (rel_r == 0)
    level = np.where(_present(x, y), np.where(x == y, 4, 0), 0).astype(np.uint8)
    todo = np.nonzero(comparable & _present(x, y) & (x != y))[0]
    if len(todo):
        lp = [a[c][left[todo]] for c in GUARDIAN_PARTS]
        rp = [b[c][right[todo]] for c in GUARDIAN_PARTS]
        grid = [[name_level(p, q, sim) for q in rp] for p in lp]  # 0 where a part is missing
        best_l = [np.max(np.stack(row), axis=0) for row in grid]
        best_r = [np.max(np.stack([grid[i][j] for i in range(3)]), axis=0) for j in range(3)]
        left_ok = _weakest(best_l, lp)
        right_ok = _weakest(best_r, rp)
        found = np.maximum(left_ok, right_ok)
        parts_l = sum((p >= 0).astype(np.int8) for p in lp)
        parts_r = sum((q >= 0).astype(np.int8) for q in rp)
        found = np.where((found == 4) & (parts_l != parts_r), 3, found)  # one name inside the other
        level[todo] = found
    # Guardians that differ, one of them (closely or exactly) the other record's own name: a father and
    # his namesake son, whose spellings vary like any other name's.
    differ = np.nonzero(comparable & (level == 1))[0]
    if len(differ):
        l_at, r_at = left[differ], right[differ]
        names_other = ((name_level(x[differ], b["own_name"][r_at], sim) >= 3)
                       | (name_level(y[differ], a["own_name"][l_at], sim) >= 3))
        level[differ[names_other]] = len(GUARDIAN_LEVELS)
    return np.where(comparable, level, 0).astype(np.uint8)


def _weakest(best: list[U8], parts: list[npt.NDArray[np.int32]]) -> U8:
    """The weakest of the present parts' best agreements (0 if no part is present)."""
    stacked = np.stack([np.where(p >= 0, b, 9) for b, p in zip(best, parts, strict=True)])
    weakest = stacked.min(axis=0)
    return np.where(weakest == 9, 0, weakest).astype(np.uint8)


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
    # Beyond the recording error a year can carry, two records are two people: a declared year or date
    # moves by at most three years (a child re-registered older or younger, the ±3-year rule), an age
    # estimated at registration by at most six (the re-registration plus the guess).  Siblings and a son
    # named after his father are further apart than that.
    # Two or three years between declared years or dates is the re-registration pattern (rare), the
    # same gap with an estimated age is the guess's noise (common): separate levels, separate weights.
    level = np.select(
        [same_date, both_dates & (gap <= 1), gap == 0, gap <= 1, estimated & (gap <= DECLARED_ERROR),
         gap <= DECLARED_ERROR, estimated & (gap <= ESTIMATE_ERROR)],
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
        _equal(a, left, b, right, "household"), given, family, _guardian(a, left, b, right, sim),
        _sex(a, left, b, right), _birth(a, left, b, right),
        _equal(a, left, b, right, "phone"), _equal(a, left, b, right, "aadhaar"), _nid(a, left, b, right),
        _equal(a, left, b, right, "brn"), _area(a, left, b, right),
    ]
    return np.stack(columns, axis=1)


def _nid(a: RecordTable, left: I64, b: RecordTable, right: I64) -> U8:
    """13/17-digit keys compare with each other, 10-digit smart-card numbers with each other."""
    return np.maximum(_equal(a, left, b, right, "nid13"), _equal(a, left, b, right, "nid10"))
