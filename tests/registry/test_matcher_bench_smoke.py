"""The matcher bench, for real but tiny (3,000 records): the rows follow the contract; no timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import check_row

ROOT = Path(__file__).resolve().parent.parent.parent
ROWS = {"matcher.batch_seconds", "matcher.batch_cpu_seconds", "matcher.batch_peak_memory_mb", "matcher.comparisons",
        "matcher.precision", "matcher.recall", "matcher.incremental_p99_ms"}


@pytest.mark.slow  # a bench child process, EM and an index: about a minute on a quiet machine
def test_matcher_bench_runs_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = {**os.environ, "GRAMSETU_BENCH_MATCHER_RECORDS": "3000", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench", "matcher", "--output", str(output)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(output.read_text())
    assert {row["name"] for row in rows} == ROWS
    for row in rows:
        assert check_row(row) == [], row
    by_name = {row["name"]: row for row in rows}
    assert 0 < by_name["matcher.comparisons"]["value"] < by_name["matcher.comparisons"]["baseline"]
    assert by_name["matcher.recall"]["value"] > by_name["matcher.recall"]["baseline"]
