"""The benefits bench runs end to end at a tiny scale and reports every figure with its baseline; a goal
is met only at its own scale, so a tiny run meets none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import check_row

TINY = {"GRAMSETU_BENCH_BENEFITS_BATCHED": "2000", "GRAMSETU_BENCH_BENEFITS_SINGLE": "40",
        "GRAMSETU_BENCH_BENEFITS_CALLERS": "2", "GRAMSETU_BENCH_BENEFITS_BATCH_CALLERS": "2",
        "GRAMSETU_BENCH_BENEFITS_AREA_PERSONS": "2000", "GRAMSETU_BENCH_BENEFITS_CHAIN_ENTRIES": "20000"}


@pytest.mark.slow
def test_benefits_bench_runs_end_to_end(clean: None, database_url: str, nats_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, **TINY, "GRAMSETU_BENCH_DATABASE_URL": database_url, "GRAMSETU_BENCH_NATS_URL": nats_url}
    run = subprocess.run([sys.executable, "-m", "bench", "benefits", "--output", str(out)], env=env,
                         capture_output=True, timeout=900)
    assert run.returncode == 0, run.stdout.decode()[-3000:] + run.stderr.decode()[-3000:]
    rows = {r["name"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"benefits.post_batched_rate", "benefits.post_single_rate", "benefits.coverage_area_seconds",
                         "benefits.verify_seconds"}
    for row in rows.values():
        assert not check_row(row), row
        assert row["errors"] == 0 and row["baseline"] > 0, row
        # 2,000 persons, 20,000 entries, 2,040 postings: below every goal's own scale, so no goal is met
        # however fast it ran.
        assert row["met"] is False, row
    assert "intact=True" in rows["benefits.verify_seconds"]["detail"]
    assert "2,000 persons of one ward" in rows["benefits.coverage_area_seconds"]["detail"]
    # Posting went through the service's HTTP API, its baseline at the same concurrency.
    batched, single = rows["benefits.post_batched_rate"]["detail"], rows["benefits.post_single_rate"]["detail"]
    assert "POST /entries/batch" in batched and "2 concurrent callers" in batched and "2 connections at once" in batched
    assert "POST /entries per entry" in single and "2 concurrent callers" in single and "2 connections at once" in single
