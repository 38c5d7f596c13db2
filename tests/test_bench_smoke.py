"""The benchmark runner, for real but tiny: proves the bench code works, asserts no timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bench.__main__ import main, run_modules
from bench.common import check_row, make_row, percentile

ROOT = Path(__file__).resolve().parent.parent
TINY = {
    "GRAMSETU_BENCH_RELAY_EVENTS": "300",
    "GRAMSETU_BENCH_RELAY_TRIALS": "1",
    "GRAMSETU_BENCH_CONSUMER_EVENTS": "200",
    "GRAMSETU_BENCH_E2E_RATE": "100",
    "GRAMSETU_BENCH_E2E_SECONDS": "2",
    "GRAMSETU_BENCH_E2E_PRODUCERS": "1",
    "GRAMSETU_BENCH_E2E_LIGHT_RATE": "0",
}
EVENT_ROWS = {
    "events.relay_throughput", "events.consumer_throughput", "events.e2e_latency_p50",
    "events.e2e_latency_p95", "events.e2e_latency_p99", "events.e2e_rate",
}


def test_events_bench_runs_end_to_end(clean: None, database_url: str, nats_url: str, tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = {**os.environ, **TINY, "GRAMSETU_BENCH_DATABASE_URL": database_url, "GRAMSETU_BENCH_NATS_URL": nats_url}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "events", "--output", str(output)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(output.read_text())
    assert {row["name"] for row in rows} == EVENT_ROWS
    for row in rows:
        assert check_row(row) == [], row
        assert row["value"] > 0 and row["baseline"] > 0, row
        assert row["ratio"] == pytest.approx(row["value"] / row["baseline"], rel=1e-2), row
    by_name = {row["name"]: row for row in rows}
    assert by_name["events.e2e_latency_p50"]["value"] <= by_name["events.e2e_latency_p99"]["value"]
    assert by_name["events.e2e_latency_p99"]["detail"].startswith("200 events in")
    assert "given by GRAMSETU_BENCH_DATABASE_URL" in done.stdout


async def test_missing_module_is_skipped_with_a_message() -> None:
    console = Console(record=True, width=200)
    outcome = await run_modules(["not_written_yet"], console)
    assert outcome.rows == [] and outcome.errors == []
    assert outcome.skipped == ["not_written_yet: bench/not_written_yet_bench.py does not exist yet"]
    assert "skipped not_written_yet" in console.export_text()


def test_unknown_name_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no_such_bench", "--output", "/dev/null"]) == 2
    assert "unknown benchmark" in capsys.readouterr().out


def test_row_contract_and_statistics() -> None:
    row = make_row("x", value=50.0, unit="ms", baseline=100.0, goal="<= 100 ms", met=True)
    assert check_row(row) == [] and row["ratio"] == 0.5
    assert check_row({"name": "x", "met": "yes"}) != []
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile(list(range(101)), 99) == pytest.approx(99.0)
    assert percentile([10.0], 99) == 10.0
