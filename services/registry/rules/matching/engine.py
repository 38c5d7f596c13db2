"""The matcher end to end: batch (a whole table) and incremental (one record against an index).

Batch: block → compare in chunks (each pair's levels packed into one integer "pattern") → u from
random pairs, m and the prior by EM over the distinct patterns → a probability per pattern, hence
per pair → guards for hard negatives → pairs at or above the threshold, and clusters.

Incremental: the index keeps, per blocking rule, the records sorted by (key, order); a new record
is placed in each rule's order by binary search and compared with the ``window`` neighbours on
each side that share its key, the same neighbourhood the batch run would have given it.
"""

from __future__ import annotations

import bisect
import multiprocessing
import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from services.registry.rules.matching.arrays import distinct, distinct_counts, distinct_inverse
from services.registry.rules.matching.blocking import (
    RULES,
    TRAINING_BY_DATE,
    TRAINING_BY_NAME,
    Blocked,
    Rule,
    block,
    rule_pairs,
)
from services.registry.rules.matching.compare import FIELD_INDEX, FIELDS, GUARDIAN_LEVELS, Similarity, compare
from services.registry.rules.matching.fellegi_sunter import Model, Session, is_near, probability, train
from services.registry.rules.matching.stats import SpellingStats
from services.registry.rules.matching.table import RecordTable, TableBuilder

DEFAULT_THRESHOLD = 0.7  # the operating threshold for the queue (chosen on tuning seeds 1, 3, 4: docs/matching.md)
RANDOM_PAIRS = 500_000
CHUNK = 1_000_000
TRAINING_PAIRS = 500_000
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
RADIX = np.asarray([len(f.levels) + 1 for f in FIELDS], dtype=np.int64)
PLACE = np.concatenate(([1], np.cumprod(RADIX[::-1])[:-1]))[::-1]  # mixed-radix place values
Progress = Callable[[int, int], None]  # (pairs done, pairs in all)


def pack(levels: U8) -> npt.NDArray[np.int32]:
    return (levels.astype(np.int64) @ PLACE).astype(np.int32)


def unpack(codes: npt.NDArray[np.int64]) -> U8:
    return ((codes[:, None] // PLACE[None, :]) % RADIX[None, :]).astype(np.uint8)


def is_hard_negative(levels: U8) -> npt.NDArray[np.bool_]:
    """Pairs a probability must not link, whatever the other fields say: two records holding different
    values of one identifier are two people (Aadhaar has a check digit; NID and BRN are compared on
    their canonical keys); and given names that plainly differ are two people unless an identifier
    agrees (twins share parents, birth date, household and phone); so are records born further apart
    than a recorded year can be wrong (a son named after his father shares name, household, phone and
    area with him; a brother shares the guardian and family name); and so are a father and his namesake
    son without a birth on one side: their guardians differ and one is the other's own name."""
    ids = levels[:, [FIELD_INDEX[k] for k in ("aadhaar", "nid", "brn")]]
    id_agrees = (ids == 2).any(axis=1)
    id_conflict = (ids == 1).any(axis=1) & ~id_agrees
    given_differs = (levels[:, FIELD_INDEX["given_name"]] == 1) & ~id_agrees
    generation_apart = (levels[:, FIELD_INDEX["birth"]] == 1) & ~id_agrees
    father_and_son = (levels[:, FIELD_INDEX["guardian"]] == len(GUARDIAN_LEVELS)) & ~id_agrees
    return id_conflict | given_differs | generation_apart | father_and_son


HARD_NEGATIVE_CAP = 0.01


def cap(hard_negative: npt.NDArray[np.bool_], prob: F64) -> F64:
    return np.where(hard_negative, np.minimum(prob, HARD_NEGATIVE_CAP), prob)


def random_pairs(n: int, count: int, seed: int = 0) -> tuple[I64, I64]:
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, n, count), rng.integers(0, n, count)
    keep = left != right
    return left[keep], right[keep]


def near_random_pairs(t: RecordTable, count: int, seed: int = 0) -> tuple[I64, I64]:
    """Random pairs of records of one upazila/block (the u of near pairs)."""
    group = t["area_grand"].astype(np.int64)
    rows = np.nonzero(group >= 0)[0]
    if not len(rows):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    rows = rows[np.argsort(group[rows], kind="stable")]
    _, start, size = np.unique(group[rows], return_index=True, return_counts=True)
    rng = np.random.default_rng(seed + 1)
    # Each group in proportion to its pairs, so every near pair is equally likely.
    weight = size.astype(np.float64) * (size - 1)
    if weight.sum() == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pick = rng.choice(len(size), count, p=weight / weight.sum())
    left = rows[start[pick] + (rng.random(count) * size[pick]).astype(np.int64)]
    right = rows[start[pick] + (rng.random(count) * size[pick]).astype(np.int64)]
    keep = left != right
    return left[keep], right[keep]


@dataclass
class MatchResult:
    table: RecordTable
    blocked: Blocked
    patterns: npt.NDArray[np.int32]  # per blocked pair
    model: Model
    probability: F64  # per blocked pair
    threshold: float
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def above(self, threshold: float | None = None) -> npt.NDArray[np.bool_]:
        return self.probability >= (self.threshold if threshold is None else threshold)

    def explain(self, k: int) -> list[dict[str, object]]:
        return explain(self.model, unpack(self.patterns[k : k + 1].astype(np.int64))[0])


def explain(model: Model, levels: U8) -> list[dict[str, object]]:
    """Each compared field's level and weight (missing fields left out), for the duplicates queue."""
    weights = model.weights(near=bool(is_near(levels[None, :])[0]))
    return [
        {"field": f.name, "level": f.levels[levels[k] - 1], "weight": round(float(weights[k][levels[k]]), 2)}
        for k, f in enumerate(FIELDS) if levels[k] > 0
    ]


def similarity(t: RecordTable, stats: SpellingStats) -> Similarity:
    return Similarity(t.vocab.strings, stats.script_counts(t.vocab.strings))


def _compare_all(t: RecordTable, blocked: Blocked, progress: Progress | None,
                 sim: Similarity) -> npt.NDArray[np.int32]:
    out = np.empty(blocked.comparisons, dtype=np.int32)
    for start in range(0, blocked.comparisons, CHUNK):
        stop = min(start + CHUNK, blocked.comparisons)
        out[start:stop] = pack(compare(t, blocked.left[start:stop], t, blocked.right[start:stop], sim))
        if progress:
            progress(stop, blocked.comparisons)
    return out


def learn(t: RecordTable, *, seed: int = 0, sim: Similarity | None = None, stats: SpellingStats | None = None) -> Model:
    """u on random pairs; m by EM in two sessions, each on pairs chosen by a rule, learning only fields
    the rule does not make agree: pairs sharing a birth date teach every field but the birth; pairs
    sharing a name teach the birth and the identifiers (not sex, guardian or area, which namesakes
    share far more often than random pairs do: the family name is in the guardian's name, and names
    cluster by region)."""
    stats = stats or SpellingStats.of_table(t)
    sim = sim or similarity(t, stats)
    count = min(RANDOM_PAIRS, max(len(t) * 20, 1000))
    left, right = random_pairs(len(t), count, seed)
    random_levels = compare(t, left, t, right, sim)
    left, right = near_random_pairs(t, count, seed)
    near_levels = compare(t, left, t, right, sim)
    by_name = ("birth", "phone", "aadhaar", "nid", "brn", "household")
    by_date = tuple(f.name for f in FIELDS if f.name != "birth")
    sessions: list[Session] = []
    n = max(len(t), 1)
    for rule, learns in ((TRAINING_BY_NAME, by_name), (TRAINING_BY_DATE, by_date)):
        found = rule_pairs(t, rule)
        proposed = len(found)
        if proposed > TRAINING_PAIRS:
            found = np.random.default_rng(seed).choice(found, TRAINING_PAIRS, replace=False)
        rows, counts = _distinct(compare(t, found // n, t, found % n, sim))
        counts *= proposed / max(len(found), 1)
        sessions.append(Session(rows, counts, [k for k, f in enumerate(FIELDS) if f.name in learns], proposed))
    model = train(sessions, random_levels, len(t), near_levels=near_levels)
    model.stats = stats
    return model


def _distinct(levels: U8) -> tuple[U8, F64]:
    codes, counts = distinct_counts(pack(levels))
    return unpack(codes.astype(np.int64)), counts.astype(np.float64)


def level_of(patterns: npt.NDArray[np.int32], field: str) -> U8:
    k = FIELD_INDEX[field]
    return ((patterns.astype(np.int64) // PLACE[k]) % RADIX[k]).astype(np.uint8)


def _share(shares: F64, floor: float, codes: npt.NDArray[np.int32]) -> F64:
    """``shares[code]``; a spelling the shares do not cover (added since) counts as rare."""
    known = (codes >= 0) & (codes < len(shares) - 1)
    return np.where(known, shares[np.where(known, codes, -1)], floor)


class Scorer:
    """A model bound to one vocabulary: the comparison (with the model's spelling counts) and the
    probability of a pair, the same in the batch run, the incremental index, the registry's check of
    one written person and the import's duplicate flagging."""

    def __init__(self, model: Model, strings: list[str], stats: SpellingStats | None = None) -> None:
        self.model = model
        self.stats = stats or model.stats or SpellingStats({}, {}, {}, {}, 0, 0)
        self.sim = Similarity(strings, self.stats.script_counts(strings))
        self.shares = {c: self.stats.shares(c, strings) for c in ("given", "family")}
        self.floor = {c: self.stats.floor_share(c) for c in ("given", "family")}

    def levels(self, a: RecordTable, left: npt.NDArray[Any], b: RecordTable, right: npt.NDArray[Any]) -> U8:
        return compare(a, left, b, right, self.sim)

    def frequency_adjustment(self, a: RecordTable, left: npt.NDArray[Any], b: RecordTable, right: npt.NDArray[Any],
                             given_exact: npt.NDArray[np.bool_], family_exact: npt.NDArray[np.bool_]) -> F64:
        """Splink's term-frequency adjustment for exact name agreement: agreeing on a common name
        ("Nazma Akter") says less than agreeing on a rare one, by log2(u_exact / share of the name)."""
        out = np.zeros(len(left))
        for column, name, exact in (("given", "given_name", given_exact), ("family", "family_name", family_exact)):
            if not exact.any():
                continue
            u_exact = self.model.u[FIELD_INDEX[name]][-1]
            shares, floor = self.shares[column], self.floor[column]
            # Of a swapped pair, the record holding the name in this column says how common it is there
            # ("Chauhan" is a rare given name but a common family name): the larger share of the two.
            share = np.maximum(_share(shares, floor, a[column][left]), _share(shares, floor, b[column][right]))
            adjust = np.log2(u_exact / np.maximum(share, 1e-9))
            out += np.where(exact, np.clip(adjust, -6, 6), 0.0)
        return out

    def probability(self, levels: U8, a: RecordTable, left: npt.NDArray[Any], b: RecordTable,
                    right: npt.NDArray[Any], base: F64 | None = None) -> F64:
        """``base``: the model's match weight of ``levels`` if already known (the batch run computes it
        once per distinct pattern)."""
        exact = len(FIELDS[FIELD_INDEX["given_name"]].levels)
        weight = self.model.match_weight(levels) if base is None else base
        calibration = self.model.calibration
        if calibration is not None and calibration.decisions:  # reviewers' decisions on these patterns
            weight = weight + calibration.delta(pack(levels).astype(np.int64), probability(weight))
        weight = weight + self.frequency_adjustment(a, left, b, right, levels[:, FIELD_INDEX["given_name"]] == exact,
                                                    levels[:, FIELD_INDEX["family_name"]] == exact)
        return cap(is_hard_negative(levels), probability(weight))

    def score(self, a: RecordTable, left: npt.NDArray[Any], b: RecordTable, right: npt.NDArray[Any]) -> tuple[U8, F64]:
        levels = self.levels(a, left, b, right)
        return levels, self.probability(levels, a, left, b, right)


def score(scorer: Scorer, t: RecordTable, blocked: Blocked, patterns: npt.NDArray[np.int32]) -> F64:
    codes, where = distinct_inverse(patterns)
    distinct_levels = unpack(codes.astype(np.int64))
    base = scorer.model.match_weight(distinct_levels)[where]
    return scorer.probability(distinct_levels[where], t, blocked.left, t, blocked.right, base)


class _Phases:
    """Wall and CPU seconds per phase (CPU: this process and the workers it waited for)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
        out = work()
        self.wall[name] = time.perf_counter() - wall
        self.cpu[name] = time.process_time() - cpu + _children_cpu() - children
        return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# Worker processes (fork) see the parent's table through copy-on-write memory; these globals carry it.
_SHARED: dict[str, Any] = {}


def _compare_part(bounds: tuple[int, int]) -> npt.NDArray[np.int32]:
    t, blocked, sim = _SHARED["table"], _SHARED["blocked"], _SHARED["sim"]
    lo, hi = bounds
    return pack(compare(t, blocked.left[lo:hi], t, blocked.right[lo:hi], sim))


def _learn_part(_: Any) -> Model:
    return learn(_SHARED["table"], sim=_SHARED["sim"], stats=_SHARED["stats"])


def _in_workers(t: RecordTable, blocked: Blocked, sim: Similarity, stats: SpellingStats, learn_too: bool,
                workers: int, progress: Progress | None) -> tuple[npt.NDArray[np.int32], Model | None]:
    """Comparing (and learning, which does not need the blocked pairs) in ``workers`` forked processes."""
    _SHARED.update(table=t, blocked=blocked, sim=sim, stats=stats)
    out = np.empty(blocked.comparisons, dtype=np.int32)
    parts = [(lo, min(lo + CHUNK, blocked.comparisons)) for lo in range(0, blocked.comparisons, CHUNK)]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            learned = pool.apply_async(_learn_part, (None,)) if learn_too else None
            done = 0
            for (lo, hi), packed in zip(parts, pool.imap(_compare_part, parts), strict=True):
                out[lo:hi] = packed
                done = hi
                if progress:
                    progress(done, blocked.comparisons)
            model = learned.get() if learned is not None else None
    finally:
        _SHARED.clear()
    return out, model


def match(t: RecordTable, *, threshold: float = DEFAULT_THRESHOLD, model: Model | None = None,
          rules: tuple[Rule, ...] = RULES, progress: Progress | None = None, workers: int = 1) -> MatchResult:
    """``workers`` > 1: compare and learn in that many forked processes (a command-line run; never in a
    service process, which holds connections and an event loop)."""
    phases = _Phases()
    blocked = phases.run("blocking", lambda: block(t, rules))
    stats = model.stats if model is not None and model.stats is not None else SpellingStats.of_table(t)
    sim = similarity(t, stats)
    if workers > 1 and blocked.comparisons > CHUNK:
        patterns, learned = phases.run("comparing and learning", lambda: _in_workers(
            t, blocked, sim, stats, model is None, workers, progress))
        model = model or learned
    else:
        patterns = phases.run("comparing", lambda: _compare_all(t, blocked, progress, sim))
        model = model or phases.run("learning", lambda: learn(t, sim=sim, stats=stats))
    assert model is not None
    scorer = Scorer(model, t.vocab.strings, stats)
    scorer.sim = sim
    prob = phases.run("scoring", lambda: score(scorer, t, blocked, patterns))
    return MatchResult(t, blocked, patterns, model, prob, threshold, phases.wall, phases.cpu)


@dataclass
class _RuleIndex:
    rule: Rule
    rows: I64  # record indices sorted by (key, order)
    keys: I64
    orders: I64


class Index:
    """Records held for incremental checks: each rule's records sorted by (key, order)."""

    def __init__(self, table: RecordTable, model: Model, rules: tuple[Rule, ...] = RULES) -> None:
        self.table, self.model = table, model
        self.scorer = Scorer(model, table.vocab.strings, model.stats or SpellingStats.of_table(table))
        # Per column a spelling order is made of: its spellings, sorted (a new record is placed among them).
        self.sorted_spellings = {
            column: sorted(table.vocab.strings[c] for c in distinct(table[column][table[column] >= 0]).tolist())
            for column in {c for rule in rules for c in rule.spellings}}
        self.parts = [self._index(rule) for rule in rules]
        self.flagged = {rule.name: rule.only(table) for rule in rules if rule.only is not None}

    def _index(self, rule: Rule) -> _RuleIndex:
        key, order = rule.key(self.table), rule.order(self.table)
        rows = np.nonzero(key >= 0)[0]
        rows = rows[np.lexsort((order[rows], key[rows]))]
        return _RuleIndex(rule, rows, key[rows], order[rows])

    def one(self, row: Mapping[str, str | None]) -> RecordTable:
        return TableBuilder(self.table.vocab).extend([row]).build()

    def candidates(self, new: RecordTable) -> I64:
        found: list[I64] = []
        for part in self.parts:
            key = int(part.rule.key(new)[0])
            if key < 0:
                continue
            lo, hi = np.searchsorted(part.keys, key, "left"), np.searchsorted(part.keys, key, "right")
            if lo == hi:
                continue
            at = lo + int(np.searchsorted(part.orders[lo:hi], self._order(part.rule, new)))
            w = part.rule.window
            near = part.rows[max(lo, at - w) : min(hi, at + w)]
            if part.rule.only is not None and not part.rule.only(new)[0]:  # only pairs with a flagged record
                near = near[self.flagged[part.rule.name][near]]
            found.append(near)
        return distinct(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)

    def _order(self, rule: Rule, new: RecordTable) -> int:
        if not rule.spellings:
            return int(rule.order(new)[0])
        out = 0
        for column in rule.spellings:  # as blocking.spelling_order ranks them: 0 missing, else 1 + place
            code = int(new[column][0])
            rank = 1 + bisect.bisect_left(self.sorted_spellings[column], new.vocab.strings[code]) if code >= 0 else 0
            out = out * (1 << 31) + rank
        return out

    def check(self, row: Mapping[str, str | None], threshold: float = DEFAULT_THRESHOLD) -> list[tuple[int, float]]:
        """(record index, probability) of the held records that match ``row`` at or above the threshold."""
        new = self.one(row)
        found = self.candidates(new)
        if not len(found):
            return []
        _, prob = self.scorer.score(new, np.zeros(len(found), dtype=np.int64), self.table, found)
        keep = prob >= threshold
        return [(int(i), float(p)) for i, p in zip(found[keep], prob[keep], strict=True)]
