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
    "GRAMSETU_BENCH_NOTIFY_SECONDS": "0.5",
    "GRAMSETU_BENCH_NOTIFY_TRIALS": "1",
    "GRAMSETU_BENCH_NOTIFY_WRITERS": "2",
}
EVENT_ROWS = {
    "events.relay_throughput", "events.consumer_throughput", "events.e2e_latency_p50",
    "events.e2e_latency_p95", "events.e2e_latency_p99", "events.e2e_rate", "events.outbox_write_with_notify",
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


def test_a_figure_that_is_not_a_number_is_refused_and_json_stays_valid() -> None:
    row = make_row("x", value=float("nan"), unit="ms", baseline=0.0, goal="<= 1 ms", met=True)
    assert row["value"] is None and row["ratio"] is None
    assert any("not a finite number" in p for p in check_row(row))
    json.dumps(row, allow_nan=False)  # would raise on a bare NaN


def test_errors_during_a_measurement_mean_the_goal_is_not_met() -> None:
    row = make_row("x", value=5.0, unit="ms", baseline=10.0, goal="<= 10 ms", met=True, errors=3)
    assert row["errors"] == 3 and row["met"] is False


def test_a_failed_or_partial_run_keeps_earlier_figures(tmp_path: Path) -> None:
    from bench.__main__ import Outcome, write_results

    path = tmp_path / "results.json"
    first = Outcome(rows=[make_row("a.x", value=1.0, unit="s", baseline=2.0, goal="g", met=True),
                          make_row("b.y", value=3.0, unit="s", baseline=4.0, goal="g", met=True)])
    assert write_results(first, path) == []
    earlier = {row["name"]: row for row in json.loads(path.read_text())}
    # Module b failed this time: only a's row is fresh.
    second = Outcome(rows=[make_row("a.x", value=5.0, unit="s", baseline=2.0, goal="g", met=False)],
                     errors=["b: RuntimeError: boom"])
    assert write_results(second, path) == ["b.y"]
    rows = {row["name"]: row for row in json.loads(path.read_text())}
    assert rows["a.x"]["value"] == 5.0 and rows["b.y"] == earlier["b.y"]
    for row in rows.values():
        assert {"machine", "commit", "timestamp", "errors"} <= set(row)
        assert check_row(row) == []
    assert not list(tmp_path.glob("*.tmp"))


def test_lookup_sample_spreads_over_the_whole_sheet_and_includes_misses(tmp_path: Path) -> None:
    from bench.registry_bench import lookup_values

    sheet = tmp_path / "sheet.csv"
    held = [f"{1_000_000_000 + 7 * i}" for i in range(2000)]
    sheet.write_text("household_ref,bd_nid\n" + "".join(f"h{i},{nid}\n" for i, nid in enumerate(held)))
    values = lookup_values(sheet, 200, 0.1)
    hits = [v["value"] for v in values if v["expect"] == 200]
    misses = [v["value"] for v in values if v["expect"] == 404]
    assert len(values) == 200 and len(misses) == 20
    assert not set(misses) & set(held)
    assert max(held.index(v) for v in hits) > 1800  # reaches the end of the sheet, not the first rows


async def test_import_baseline_is_a_server_side_copy_of_the_same_sheet(database_url: str, tmp_path: Path) -> None:
    from bench.registry_bench import raw_copy_rate

    sheet = tmp_path / "sheet.csv"
    sheet.write_text('household_ref,full_name,bd_nid\nh1,"Rokeya, Begum",1234567890\nh2,Rahim,\nh3,Karim,42\n')
    rate, copied, seconds = await raw_copy_rate(database_url, sheet)
    assert copied == 3 and rate > 0 and seconds > 0
    ids_line = (tmp_path / "sheet-with-ids.csv").read_text().splitlines()[1]
    assert ids_line.split(",")[0][14] == "7"  # the import's UUIDv7 ids, not random v4


@pytest.mark.slow
def test_registry_bench_runs_end_to_end_at_a_small_scale(database_url: str, nats_url: str, tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = {**os.environ, "GRAMSETU_BENCH_IMPORT_ROWS": "3000", "REGISTRY_BENCH_LOOKUP_SECONDS": "2",
           "REGISTRY_BENCH_LOOKUP_RATE": "100", "GRAMSETU_BENCH_NATS_URL": nats_url}
    done = subprocess.run([sys.executable, "-m", "bench", "registry", "--output", str(output)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(output.read_text())}
    assert set(rows) == {"registry.import_rate", "registry.import_searchable_seconds", "registry.lookup_p99"}
    assert rows["registry.lookup_p99"]["errors"] == 0
    assert "server-side COPY" in rows["registry.import_rate"]["detail"]


def _run_bench(module: str, env: dict[str, str], output: Path) -> dict[str, dict]:
    done = subprocess.run([sys.executable, "-m", "bench", module, "--output", str(output)],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(output.read_text())}
    for row in rows.values():
        assert check_row(row) == [], row
    return rows


@pytest.mark.slow
def test_tickets_bench_runs_end_to_end_at_a_small_scale(database_url: str, nats_url: str, tmp_path: Path) -> None:
    rows = _run_bench("tickets", {
        "GRAMSETU_BENCH_DATABASE_URL": database_url, "GRAMSETU_BENCH_NATS_URL": nats_url,
        "GRAMSETU_BENCH_TICKETS_OPEN": "2000", "GRAMSETU_BENCH_TICKETS_DUE": "20",
        "GRAMSETU_BENCH_TICKETS_WINDOW": "3", "GRAMSETU_BENCH_TICKETS_CREATE": "200"}, tmp_path / "results.json")
    assert {"tickets.create_rate", "tickets.create_rate_batched", "tickets.escalation_lateness_max"} <= set(rows)
    for name in ("tickets.create_rate", "tickets.create_rate_batched"):
        assert rows[name]["errors"] == 0 and rows[name]["value"] > 0, rows[name]
    assert rows["tickets.escalation_lateness_max"]["detail"].startswith("20/20 "), rows["tickets.escalation_lateness_max"]


@pytest.mark.slow
def test_marketplace_bench_runs_end_to_end_at_a_small_scale(database_url: str, nats_url: str,
                                                             tmp_path: Path) -> None:
    rows = _run_bench("marketplace", {
        "GRAMSETU_BENCH_DATABASE_URL": database_url, "GRAMSETU_BENCH_NATS_URL": nats_url,
        "MARKETPLACE_BENCH_WORKERS": "5000", "MARKETPLACE_BENCH_QUERIES": "100",
        "MARKETPLACE_BENCH_BOOKING_SECONDS": "2"}, tmp_path / "results.json")
    assert set(rows) == {"marketplace.search_db_p99_common", "marketplace.search_db_p99_rare",
                         "marketplace.search_service_p99_common", "marketplace.search_service_p99_rare",
                         "marketplace.booking_rate"}
    booking = rows["marketplace.booking_rate"]
    assert booking["errors"] == 0 and booking["value"] > 0 and ", 0 refused" in booking["detail"], booking
