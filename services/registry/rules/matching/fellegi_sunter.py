"""Fellegi-Sunter scoring with m and u learned from the data, without labels.

*u* (how often a level occurs between two different people) starts from its share among random pairs
of records, where almost every pair is two different people; *m* (how often it occurs for the same
person) starts from "higher levels are likelier".  Then expectation-maximisation on the blocked pairs
learns m, u and the share of true matches among them.  u is learned too, not held at its random-pair
value as Splink does by default: the blocked pairs that are not matches still share a name key or a
phone, so they agree far more often than random pairs, and a fixed random u would make EM read every
blocked pair as a match.  EM runs over the distinct level patterns with
their counts (a few thousand rows however many pairs there are), so it takes milliseconds.

A level contributes ``log2(m/u)``; the prior log-odds plus the sum is the match weight *w*, and the
match probability is ``2^w / (1 + 2^w)``.  Level 0 (a value missing on either side) weighs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.registry.rules.matching.calibration import Calibration
from services.registry.rules.matching.compare import FIELDS
from services.registry.rules.matching.stats import SpellingStats

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
SMOOTH = 0.5  # added to every level's count, so no level is impossible


AREA = [f.name for f in FIELDS].index("area")
NEAR_LEVELS = 2  # area levels from here up (same upazila/block, sibling area, same area) are "near"


def is_near(levels: U8) -> npt.NDArray[np.bool_]:
    return levels[:, AREA] >= NEAR_LEVELS


@dataclass
class Model:
    """m and u per field and level.  ``u_near``: u of every field but the area among records of one
    upazila/block, for pairs that are near each other.  Names, guardians and phones are not
    independent of the area (a union's names come from one language and religion, a household shares
    a phone and a surname), so a near pair's agreement is weighed against near random pairs:
    u(fields, area) = u(area) · u(fields | near or far).  Without it, a name and a ward agreeing were
    counted as two independent coincidences, and namesakes in one ward scored as one person."""

    m: list[F64]  # per field: probabilities of levels 0..n (index 0 unused)
    u: list[F64]
    prior: float  # share of true matches among blocked pairs
    iterations: int = 0
    u_near: list[F64] | None = None
    stats: SpellingStats | None = None  # the population's name spellings (stats.py), kept with the model
    calibration: Calibration | None = None  # reviewers' decisions per pattern (calibration.py)
    version: int = 0  # of the stored model (0: the packaged default)

    def weights(self, near: bool = False) -> list[F64]:
        out = []
        for k, (m, u) in enumerate(zip(self.m, self.u, strict=True)):
            if near and self.u_near is not None and k != AREA:
                u = self.u_near[k]
            w = np.log2(m / u)
            w[0] = 0.0
            out.append(w)
        return out

    def match_weight(self, levels: U8) -> F64:
        total = np.full(len(levels), np.log2(self.prior / (1 - self.prior)))
        near = is_near(levels)
        for k, (far_w, near_w) in enumerate(zip(self.weights(), self.weights(near=True), strict=True)):
            total += np.where(near, near_w[levels[:, k]], far_w[levels[:, k]])
        return total

    def probability(self, levels: U8) -> F64:
        return probability(self.match_weight(levels))

    def to_json(self) -> str:
        near = self.u_near or self.u
        return json.dumps({
            "prior": self.prior, "iterations": self.iterations,
            "fields": {f.name: {"m": list(m), "u": list(u), "u_near": list(un)}
                       for f, m, u, un in zip(FIELDS, self.m, self.u, near, strict=True)},
            **({"stats": self.stats.to_dict()} if self.stats is not None else {}),
            **({"calibration": self.calibration.to_dict()} if self.calibration is not None else {}),
            "version": self.version,
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Model:
        data = json.loads(text)
        fields = data["fields"]
        near = [np.asarray(fields[f.name]["u_near"]) for f in FIELDS] if all(
            "u_near" in fields.get(f.name, {}) for f in FIELDS) else None
        stats = SpellingStats.from_dict(data["stats"]) if "stats" in data else None
        calibration = Calibration.from_dict(data["calibration"]) if "calibration" in data else None
        return cls([np.asarray(fields[f.name]["m"]) for f in FIELDS], [np.asarray(fields[f.name]["u"]) for f in FIELDS],
                   float(data["prior"]), int(data.get("iterations", 0)), near, stats, calibration,
                   int(data.get("version", 0)))

    def fits(self) -> bool:
        """Whether it was learned with these fields and levels (a stored model may predate them)."""
        shapes = [self.m, self.u, *([self.u_near] if self.u_near is not None else [])]
        return self.u_near is not None and self.stats is not None and all(
            len(values[k]) == len(f.levels) + 1 for values in shapes for k, f in enumerate(FIELDS))


def probability(weight: F64) -> F64:
    return 1.0 / (1.0 + np.exp2(-np.clip(weight, -60, 60)))


def level_shares(levels: U8, counts: F64, field: int, n_levels: int) -> F64:
    """Share of each level 1..n among the pairs where the field could be compared (index 0 set to 1)."""
    tally = np.bincount(levels[:, field], weights=counts, minlength=n_levels + 1)[: n_levels + 1] + SMOOTH
    tally[0] = 0.0
    shares = tally / tally.sum()
    shares[0] = 1.0
    return shares


def estimate_u(random_levels: U8) -> list[F64]:
    ones = np.ones(len(random_levels))
    return [level_shares(random_levels, ones, k, len(f.levels)) for k, f in enumerate(FIELDS)]


def _initial_m() -> list[F64]:
    out = []
    for f in FIELDS:
        raw = np.exp(np.arange(len(f.levels) + 1, dtype=np.float64))  # higher levels likelier for a match
        raw[0] = 0.0
        shares = raw / raw.sum()
        shares[0] = 1.0
        out.append(shares)
    return out


def patterns(levels: U8) -> tuple[U8, F64]:
    """The distinct rows of ``levels`` and how many pairs have each."""
    if len(levels) == 0:
        return levels, np.zeros(0)
    rows, counts = np.unique(levels, axis=0, return_counts=True)
    return rows.astype(np.uint8), counts.astype(np.float64)


def em_session(rows: U8, counts: F64, u: list[F64], fields: Sequence[int], *, iterations: int = 40,
               prior: float = 0.1, tolerance: float = 1e-6, u_near: list[F64] | None = None) -> tuple[list[F64], float]:
    """EM for m (of ``fields`` only) and the prior, u held fixed, on one session's pairs.

    A session's pairs were proposed by one blocking rule, so they agree on that rule's fields far more
    often than random pairs do: those fields are left out of the session (Splink's practice), and
    their m comes from another session."""
    rows, counts = _merge(_only(rows, fields), counts)
    model = Model(_initial_m(), u, prior, u_near=u_near)
    for step in range(1, iterations + 1):
        matched = model.probability(rows) * counts
        new_m = [level_shares(rows, matched, k, len(f.levels)) if k in fields else model.m[k]
                 for k, f in enumerate(FIELDS)]
        new_prior = float(np.clip(matched.sum() / max(counts.sum(), 1.0), 1e-9, 1 - 1e-9))
        change = max(float(np.abs(a - b).max()) for a, b in zip(new_m, model.m, strict=True))
        model = Model(new_m, u, new_prior, step, u_near)
        if change < tolerance:
            break
    return model.m, model.prior


def matched_share(rows: U8, counts: F64, model: Model, field: int, level: int) -> float:
    """Among the pairs the model takes for matches, the share at ``level`` of ``field`` (missing included)."""
    matched = model.probability(rows) * counts
    return float(matched[rows[:, field] == level].sum() / max(matched.sum(), 1e-12))


def _only(rows: U8, fields: Sequence[int]) -> U8:
    """``rows`` with every field but ``fields`` set to 0 (not compared), as a session's EM sees them."""
    out = rows.copy()
    for k in range(len(FIELDS)):
        if k not in fields:
            out[:, k] = 0
    return out


def _merge(rows: U8, counts: F64) -> tuple[U8, F64]:
    distinct, where = np.unique(rows, axis=0, return_inverse=True)
    merged = np.bincount(where.ravel(), weights=counts, minlength=len(distinct)).astype(np.float64)
    return distinct.astype(np.uint8), merged


def learn_prior(model: Model, rows: U8, counts: F64, *, iterations: int = 60) -> float:
    """The share of matches among all blocked pairs, m and u fixed (EM with one free parameter)."""
    prior = model.prior
    for _ in range(iterations):
        prior = float(np.clip((Model(model.m, model.u, prior, u_near=model.u_near).probability(rows) * counts).sum()
                              / max(counts.sum(), 1.0), 1e-9, 1 - 1e-9))
    return prior


@dataclass
class Session:
    """Pairs one training rule proposed (distinct patterns and counts) and the fields EM learns on them."""

    rows: U8
    counts: F64
    fields: Sequence[int]
    proposed: int  # pairs the rule proposed before any sampling


def train(sessions: Sequence[Session], random_levels: U8, n_records: int, *, by_name: int = 0,
          by_date: int = 1, near_levels: U8 | None = None) -> Model:
    """u from random pairs; m per field averaged over the sessions that estimated it.

    The prior is the probability that two random records are one person (as in Splink), estimated
    without labels: EM on the same-birth-date pairs says how many of them are matches; the name
    session says what share of all matches have the same full birth date; together they give the
    number of matches, divided by the number of record pairs."""
    u = estimate_u(random_levels)
    u_near = estimate_u(near_levels) if near_levels is not None and len(near_levels) else u
    estimates: list[list[F64]] = [[] for _ in FIELDS]
    priors = []
    for session in sessions:
        m, prior = em_session(session.rows, session.counts, u, session.fields, u_near=u_near)
        priors.append(prior)
        for k in session.fields:
            estimates[k].append(m[k])
    start = _initial_m()
    m = [np.mean(found, axis=0) if found else start[k] for k, found in enumerate(estimates)]
    model = Model(m, u, 0.01, len(sessions), u_near)
    birth = [f.name for f in FIELDS].index("birth")
    name = sessions[by_name]
    # Which of the name session's pairs are matches is judged as its EM judged them: on the fields it
    # learns only, with its own prior.  With every field, each pair's agreeing name alone outweighed
    # that prior, nearly every pair counted as a match, the same-date share came out at the share
    # among all its pairs (0.085 against 0.34 among true matches, tuning seed 4), and the prior ~4x high.
    same_date = matched_share(_only(name.rows, name.fields), name.counts, Model(m, u, priors[by_name], u_near=u_near),
                              birth, len(FIELDS[birth].levels))
    matches = priors[by_date] * sessions[by_date].proposed / max(same_date, 1e-6)
    pairs = n_records * (n_records - 1) / 2
    model.prior = float(np.clip(matches / max(pairs, 1.0), 1e-12, 0.5))
    return model
