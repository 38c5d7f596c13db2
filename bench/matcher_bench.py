"""Matcher figures (``matcher.*``): the probabilistic matcher of services/registry/rules/matching.

Population: the labelled generator of the tests (``tests/registry/matching_truth.py``: Bengali,
Devanagari and Latin spellings, honorifics, typos, swapped names, dates against years against
estimated ages, 13/17-digit NIDs, phone formats, moves to a sibling ward; namesakes, twins and sons
named after their fathers as hard negatives; about 10% of records repeat a person), seed 11 — the
matcher was tuned on seed 1 and its quality test runs on seed 2.  Generating it is not timed.

* ``matcher.batch_seconds`` and ``matcher.batch_peak_memory_mb``: ``gramsetu registry match`` end to
  end (read the CSV, block, compare, learn m/u by EM, score, write the pairs) in a child process with
  two worker processes for comparing and learning (as the command runs on a 2-core machine); the
  peak resident memory of the largest of them is reported.  The detail gives wall and CPU seconds per
  phase, the seconds the main process was runnable but waiting for a CPU (``/proc/self/schedstat``:
  on this shared machine that, not I/O, is the gap between wall and CPU time) and the load average.
  Baseline for the time: an exhaustive comparison of every pair (no blocking) with the same
  comparison code, timed on a 3,000-record sample and scaled to n(n-1)/2 pairs.  Baseline for
  memory: the goal (Splink 5 took 4.9 GB on such a set).  The peak is of the largest process: the
  workers are forked from the main process and share its table copy-on-write.
* ``matcher.batch_cpu_seconds``: the same run's CPU time (user + system, the workers' included),
  which the machine's load does not inflate the way it does the wall time.
* ``matcher.comparisons``: pairs the blocking rules generate (their union); baseline n(n-1)/2.
* ``matcher.precision``, ``matcher.recall``: against the labels, at the
  default threshold.  Baseline: the registry's duplicate detection before the matcher (same
  identifier, or same name key and father's key with birth years within ±3), computed on the same
  records.  The batch writes every pair at or above ``CURVE[0]`` (0.5) with its probability, so the
  detail of both rows gives precision and recall at each threshold of ``CURVE`` too, on the same
  run.  Those are the written (cluster-consistent) pairs: the clustering takes links strongest first,
  so the pairs it keeps at or above 0.9 are the same whether it was asked for 0.5 or 0.9.
* ``matcher.incremental_p99_ms``: one new record checked against an index of all the others
  (``rules.matching.engine.Index.check``), 1,000 new records.  Baseline: the same check against
  every record held (no blocking), p99 over 20 records.

Scale knob: ``GRAMSETU_BENCH_MATCHER_RECORDS`` (default 1,000,000; 50,000 for a quick run).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT, make_row, percentile
from services.registry.rules.matching.compare import compare
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD, Index, match
from services.registry.rules.matching.table import COLUMNS, TableBuilder, build_table
from services.registry.rules.names import name_key
from tests.registry.matching_truth import Truth, generate

RECORDS = int(os.environ.get("GRAMSETU_BENCH_MATCHER_RECORDS", "1000000"))
SEED = 11
NEW_RECORDS = 1_000
SAMPLE = 3_000
CHILD = """
import json, os, resource, sys, time
from pathlib import Path
from services.registry.service.matching.files import match_file

def waited():  # seconds this process was runnable but waiting for a CPU (/proc/self/schedstat)
    try:
        return int(open("/proc/self/schedstat").read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None

load_before, wait_before = os.getloadavg()[0], waited()
start = time.perf_counter()
result = match_file(Path(sys.argv[1]), Path(sys.argv[2]), workers=int(sys.argv[3]), threshold=float(sys.argv[4]))
usage = resource.getrusage(resource.RUSAGE_SELF)
children = resource.getrusage(resource.RUSAGE_CHILDREN)
wait_after = waited()
print(json.dumps({"seconds": time.perf_counter() - start, "phases": result.seconds, "cpu_phases": result.cpu_seconds,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
                  "runqueue_wait_seconds": None if wait_before is None else wait_after - wait_before,
                  "load": [load_before, os.getloadavg()[0]],
                  "comparisons": result.comparisons, "per_rule": result.per_rule,
                  "peak_kb": max(usage.ru_maxrss, children.ru_maxrss)}))
"""
WORKERS = min(2, os.cpu_count() or 1)
CURVE = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)  # thresholds reported in the precision and recall rows' detail


def _write_csv(path: Path, truth: Truth) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(truth.rows)


def _batch(source: Path, out: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(source), str(out), str(WORKERS), str(CURVE[0])], env=env,
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _read_pairs(path: Path) -> dict[tuple[str, str], float]:
    with path.open(encoding="utf-8") as fh:
        next(fh)
        return {((a, b) if a < b else (b, a)): float(p) for a, b, p in (line.rstrip("\n").split(",") for line in fh)}


def _curve(scored: dict[tuple[str, str], float], true: set[tuple[str, str]]) -> dict[float, tuple[float, float]]:
    """Precision and recall of the pairs at or above each threshold of ``CURVE``."""
    return {t: _quality({pair for pair, p in scored.items() if p >= t}, true) for t in CURVE}


def _exhaustive_seconds_per_pair(truth: Truth) -> float:
    table = build_table(truth.rows[:SAMPLE])
    n = len(table)
    left, right = np.triu_indices(n, 1)
    start = time.perf_counter()
    compare(table, left.astype(np.int64), table, right.astype(np.int64))
    return (time.perf_counter() - start) / len(left)


def _old_rules(truth: Truth) -> set[tuple[str, str]]:
    """The registry's rules before the matcher: same identifier key, or same name key and father's key
    with birth years within ±3."""
    groups: dict[tuple[str, str], list[int]] = {}
    years: list[int | None] = []
    for i, row in enumerate(truth.rows):
        for column in ("aadhaar", "nid", "brn"):
            value = "".join(ch for ch in row[column] if ch.isdigit())
            if value:
                groups.setdefault((column, value[-13:] if column == "nid" else value), []).append(i)
        year = row["dob"][:4] or row["birth_year"]
        years.append(int(year) if year else None)
        father = name_key(row["guardian_name"]) if row["guardian_relation"] == "father" else ""
        if father:
            key = name_key(f"{row['given_name']} {row['family_name']}") + "|" + father
            groups.setdefault(("name", key), []).append(i)
    found: set[tuple[str, str]] = set()
    ids = [row["record_id"] for row in truth.rows]
    for (kind, _), members in groups.items():
        for x, a in enumerate(members):
            for b in members[x + 1:]:
                if kind == "name":
                    ya, yb = years[a], years[b]
                    if ya is None or yb is None or abs(ya - yb) > 3:
                        continue
                found.add((ids[a], ids[b]) if ids[a] < ids[b] else (ids[b], ids[a]))
    return found


def _quality(found: set[tuple[str, str]], true: set[tuple[str, str]]) -> tuple[float, float]:
    hits = len(found & true)
    return hits / max(len(found), 1), hits / max(len(true), 1)


def _incremental(truth: Truth) -> tuple[list[float], list[float]]:
    held, new = truth.rows[:-NEW_RECORDS], truth.rows[-NEW_RECORDS:]
    table = build_table(held)
    model = match(build_table(held[:200_000])).model  # EM on a sample is enough for the parameters
    index = Index(table, model)
    timings = []
    for row in new:
        start = time.perf_counter()
        index.check(row)
        timings.append(time.perf_counter() - start)
    everything = np.arange(len(table), dtype=np.int64)
    baseline = []
    for row in new[:20]:
        start = time.perf_counter()
        one = TableBuilder(table.vocab).extend([row]).build()
        index.scorer.score(one, np.zeros(len(table), dtype=np.int64), table, everything)
        baseline.append(time.perf_counter() - start)
    return timings, baseline


async def run() -> list[dict[str, Any]]:
    truth = generate(RECORDS, SEED)
    n = len(truth.rows)
    true = truth.true_pairs()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="matcher-bench-") as tmp:
        source, out = Path(tmp) / "records.csv", Path(tmp) / "pairs.csv"
        _write_csv(source, truth)
        batch = _batch(source, out)
        scored = _read_pairs(out)
    curve = _curve(scored, true)
    found = {pair for pair, p in scored.items() if p >= DEFAULT_THRESHOLD}
    all_pairs = n * (n - 1) / 2
    exhaustive = _exhaustive_seconds_per_pair(truth) * all_pairs
    wait = batch["runqueue_wait_seconds"]
    detail = (f"{n:,} records, {WORKERS} processes; wall (CPU) per phase "
              + ", ".join(f"{k} {v:.1f}s ({batch['cpu_phases'].get(k, 0.0):.1f}s)" for k, v in batch["phases"].items())
              + (f"; the main process waited {wait:.1f}s for a CPU (runnable, not running)" if wait is not None else "")
              + f"; load average {batch['load'][0]:.1f} at the start, {batch['load'][1]:.1f} at the end")
    rows.append(make_row("matcher.batch_seconds", value=batch["seconds"], unit="s", baseline=exhaustive,
                         goal="<= 120 s for 1,000,000 records on this 2-core machine (Splink 5: 153 s)",
                         # The generator gives about the number asked for (998,960 for 1,000,000): the goal
                         # is judged on a run asked for a million.
                         met=RECORDS >= 1_000_000 and batch["seconds"] <= 120, detail=detail))
    rows.append(make_row("matcher.batch_cpu_seconds", value=batch["cpu_seconds"], unit="s", baseline=exhaustive,
                         goal="report: CPU time of the batch (user + system, its worker processes included; wall time "
                              "depends on the machine's load)",
                         met=True, detail=f"{n:,} records, {WORKERS} processes (comparing and learning side by side)"))
    peak_mb = batch["peak_kb"] / 1024
    rows.append(make_row("matcher.batch_peak_memory_mb", value=peak_mb, unit="MB", baseline=4096.0,
                         goal="<= 4096 MB peak (baseline = the goal; Splink 5: 4.9 GB)", met=peak_mb <= 4096,
                         detail=f"{n:,} records"))
    rows.append(make_row("matcher.comparisons", value=batch["comparisons"], unit="pairs", baseline=all_pairs,
                         goal="report (baseline: every pair)", met=True,
                         detail=", ".join(f"{k}: {v:,}" for k, v in batch["per_rule"].items())))
    old = _old_rules(truth)
    old_p, old_r = _quality(old, true)
    precision, recall = _quality(found, true)
    by_threshold = "; by threshold (P / R): " + ", ".join(f"{t} {p:.3f} / {r:.3f}" for t, (p, r) in curve.items())
    rows.append(make_row("matcher.precision", value=precision, unit="ratio", baseline=old_p,
                         goal=">= 0.98 at the default threshold (baseline: the registry's previous rules)",
                         met=precision >= 0.98,
                         detail=f"threshold {DEFAULT_THRESHOLD}; {len(true):,} true pairs{by_threshold}"))
    rows.append(make_row("matcher.recall", value=recall, unit="ratio", baseline=old_r,
                         goal=">= 0.95 at the default threshold (baseline: the registry's previous rules)",
                         met=recall >= 0.95, detail=f"threshold {DEFAULT_THRESHOLD}{by_threshold}"))
    timings, baseline = _incremental(truth)
    p99, base_p99 = percentile(timings, 99) * 1000, percentile(baseline, 99) * 1000
    rows.append(make_row("matcher.incremental_p99_ms", value=p99, unit="ms", baseline=base_p99,
                         goal="p99 <= 50 ms for one new person against 1,000,000 (baseline: no blocking)",
                         met=p99 <= 50, detail=f"{NEW_RECORDS} checks against {n - NEW_RECORDS:,} records"))
    return rows
