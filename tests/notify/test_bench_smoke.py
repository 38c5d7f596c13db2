"""The notify bench, for real but tiny: proves its code runs end to end; asserts no timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import check_row

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_notify_bench_runs_with_no_duplicates(database_url: str, nats_url: str, tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = {**os.environ, "GRAMSETU_BENCH_DATABASE_URL": database_url, "GRAMSETU_BENCH_NATS_URL": nats_url,
           "GRAMSETU_BENCH_NOTIFY_CHILDREN": "500", "GRAMSETU_BENCH_NOTIFY_MESSAGES": "300", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench", "notify", "--output", str(output)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(output.read_text())}
    assert set(rows) == {"notify.due_lists_seconds", "notify.dispatch_rate"}
    for row in rows.values():
        assert check_row(row) == [] and row["value"] > 0 and row["baseline"] > 0, row
    dispatch = rows["notify.dispatch_rate"]
    assert dispatch["errors"] == 0 and "duplicates at the provider 0, missing 0" in dispatch["detail"]
