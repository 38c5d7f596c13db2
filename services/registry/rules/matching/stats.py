"""How often each name spelling occurs in a population: what scoring needs besides m and u.

Two things read it.  The comparison of names: two spellings that are each common in one script and
do not share their consonants are two names, not one misspelt (``compare.Similarity.two_names``).
And the term-frequency adjustment: agreeing on a common name says less than agreeing on a rare one
(``engine.frequency_adjustment``).  A batch run computes it from the records it learns from and
stores it with the model, so an incremental check and an import scored with that model decide as the
batch run did.  Spellings held fewer than ``FLOOR`` times are not kept: they count as held ``FLOOR``
times, in the batch run too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.registry.rules.matching.table import GUARDIAN_PARTS, RecordTable

FLOOR = 2  # a spelling seen once or twice: rare, and a count that low says nothing more precise
NAME_COLUMNS = ("given", "family", "guardian", "given_second", *GUARDIAN_PARTS)
F64 = npt.NDArray[np.float64]


def _counts(codes: npt.NDArray[np.int32], size: int) -> npt.NDArray[np.int64]:
    return np.bincount(codes[codes >= 0], minlength=size)[:size].astype(np.int64)


def _kept(strings: Sequence[str], counts: npt.NDArray[np.int64]) -> dict[str, int]:
    return {strings[int(i)]: int(counts[i]) for i in np.nonzero(counts > FLOOR)[0]}


@dataclass
class SpellingStats:
    latin: dict[str, int]  # spelling -> times held in any name column, names written in Latin letters
    indic: dict[str, int]  # the same, names written in Bengali or Devanagari
    given: dict[str, int]  # spelling -> records holding it as the given name
    family: dict[str, int]
    given_total: int  # records with a given name
    family_total: int

    @classmethod
    def of_table(cls, t: RecordTable) -> SpellingStats:
        strings, size = t.vocab.strings, len(t.vocab.strings)
        by_script = []
        for script in (0, 1):
            rows = t["indic"] == script
            by_script.append(_counts(np.concatenate([t[c][rows] for c in NAME_COLUMNS]), size))
        given, family = _counts(t["given"], size), _counts(t["family"], size)
        return cls(_kept(strings, by_script[0]), _kept(strings, by_script[1]), _kept(strings, given),
                   _kept(strings, family), int(given.sum()), int(family.sum()))

    def script_counts(self, strings: Sequence[str]) -> npt.NDArray[np.int64]:
        """A (2, len(strings)) array: times each spelling is held, in Latin (row 0) and Indic script."""
        out = np.zeros((2, len(strings)), dtype=np.int64)
        for row, counts in enumerate((self.latin, self.indic)):
            out[row] = np.fromiter((counts.get(s, 0) for s in strings), dtype=np.int64, count=len(strings))
        return out

    def shares(self, column: str, strings: Sequence[str]) -> F64:
        """Share of records holding each spelling in ``column``; one more slot at the end (code -1)."""
        counts, total = (self.given, self.given_total) if column == "given" else (self.family, self.family_total)
        held = np.fromiter((counts.get(s, FLOOR) for s in strings), dtype=np.float64, count=len(strings))
        return np.append(held, 0.0) / max(total, 1)

    def floor_share(self, column: str) -> float:
        return FLOOR / max(self.given_total if column == "given" else self.family_total, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"latin": self.latin, "indic": self.indic, "given": self.given, "family": self.family,
                "given_total": self.given_total, "family_total": self.family_total}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpellingStats:
        return cls(dict(data["latin"]), dict(data["indic"]), dict(data["given"]), dict(data["family"]),
                   int(data["given_total"]), int(data["family_total"]))
