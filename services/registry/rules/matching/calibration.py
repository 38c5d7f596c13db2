"""Reviewers' decisions fed back into the probabilities: a per-pattern recalibration.

A pattern is the set of agreement levels of a pair (what the duplicates queue shows: given name exact,
family name missing, birth same year, ...).  For each pattern reviewers decided on, the model's
probability ``p`` (m/u and prior, before the name-frequency adjustment) is treated as ``STRENGTH``
decisions' worth of prior belief, and the reviewers' merges and dismissals of pairs with exactly that
pattern are added to it:

    p' = (merged + STRENGTH * p) / (merged + dismissed + STRENGTH)

Every pair with that pattern then gets ``log2-odds(p') - log2-odds(p)`` added to its match weight, in
the batch run, the incremental check and the import alike.  With ``STRENGTH`` 1, one dismissal of a
pattern nobody merged halves it (p' <= 1/2), a bit more than a bit of log-odds below the operating
threshold of 0.7, so the name-frequency adjustment added afterwards does not lift it back; a pattern
stays above 0.7 only while about seven in ten of its reviewed pairs were merges, which is what a 0.7
threshold promises.  (It was 4 with a threshold of 0.9, when the learned prior made every probability
about 4 times too confident.)  The counts are kept with the model, versioned (each recalibration is a new stored model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

STRENGTH = 1.0
F64 = npt.NDArray[np.float64]


def _logit2(p: F64) -> F64:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.asarray(np.log2(p / (1 - p)))


@dataclass
class Calibration:
    version: int = 0
    decisions: dict[int, tuple[int, int]] = field(default_factory=dict)  # pattern -> (merged, dismissed)

    def delta(self, patterns: npt.NDArray[np.int64], base_probability: F64) -> F64:
        """Bits to add to each pair's weight: ``patterns`` and their model probabilities."""
        out = np.zeros(len(patterns))
        if not self.decisions or not len(patterns):
            return out
        keys = np.fromiter(self.decisions, dtype=np.int64, count=len(self.decisions))
        order = np.argsort(keys)
        keys = keys[order]
        merged = np.asarray([self.decisions[int(k)][0] for k in keys], dtype=np.float64)
        dismissed = np.asarray([self.decisions[int(k)][1] for k in keys], dtype=np.float64)
        at = np.clip(np.searchsorted(keys, patterns), 0, len(keys) - 1)
        hit = keys[at] == patterns
        p = base_probability
        posterior = (merged[at] + STRENGTH * p) / (merged[at] + dismissed[at] + STRENGTH)
        return np.where(hit, _logit2(posterior) - _logit2(p), 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version,
                "decisions": {str(k): [m, d] for k, (m, d) in sorted(self.decisions.items())}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(int(data.get("version", 0)),
                   {int(k): (int(v[0]), int(v[1])) for k, v in data.get("decisions", {}).items()})
