"""The benchmark runner: ``python -m bench [names...] [--output PATH]``.

Runs the named benchmark modules (all known ones by default) one after another against the
same servers (:func:`bench.common.get_servers`), prints every row as a table and writes them
as a JSON list.  Exit status: 0 when every module ran, even if goals were missed (the table
says which); 1 when a module failed; 2 for an unknown name.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import ROOT, check_row, close_servers, current_servers, run_loop

# Run order; modules that exist but are not listed here are found and run after these.
KNOWN: tuple[str, ...] = ("events", "gateway")
SUFFIX = "_bench"


def available() -> list[str]:
    found = sorted(p.stem[: -len(SUFFIX)] for p in Path(__file__).parent.glob(f"*{SUFFIX}.py"))
    return [*KNOWN, *(name for name in found if name not in KNOWN)]


@dataclass
class Outcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    servers: str = ""


async def run_modules(names: list[str], console: Console) -> Outcome:
    outcome = Outcome()
    try:
        for name in names:
            await _run_module(name, outcome, console)
        servers = current_servers()
        if servers is not None:
            outcome.servers = servers.describe()
    finally:
        await close_servers()
    return outcome


async def _run_module(name: str, outcome: Outcome, console: Console) -> None:
    module_name = f"bench.{name}{SUFFIX}"
    if importlib.util.find_spec(module_name) is None:
        outcome.skipped.append(f"{name}: bench/{name}{SUFFIX}.py does not exist yet")
        console.print(f"[yellow]skipped {name}[/]: bench/{name}{SUFFIX}.py does not exist yet")
        return
    console.print(f"[bold]running {name}[/] ...")
    started = time.monotonic()
    try:
        module = importlib.import_module(module_name)
        rows = await module.run()
    except Exception as exc:
        outcome.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        console.print(f"[red]{name} failed[/]:\n{traceback.format_exc()}")
        return
    problems = [f"{name} row {i}: {p}" for i, row in enumerate(rows) for p in check_row(row)]
    if problems:
        outcome.errors.extend(problems)
        console.print(f"[red]{name} returned rows outside the contract[/]: {problems}")
    outcome.rows.extend(row for row in rows if not check_row(row))
    console.print(f"{name} done in {time.monotonic() - started:.0f}s")


def render(outcome: Outcome, console: Console) -> None:
    table = Table(title="GramSetu benchmarks", show_lines=True)
    for column in ("name", "value", "unit", "baseline", "ratio", "goal", "met"):
        numeric = column in ("value", "baseline", "ratio")
        table.add_column(column, overflow="fold", justify="right" if numeric else "left")
    for row in outcome.rows:
        table.add_row(
            row["name"], _number(row["value"]), str(row["unit"]), _number(row["baseline"]), _number(row["ratio"]),
            str(row["goal"]), ("[green]yes[/]" if row["met"] else "[red]NO[/]")
            + (f" ({row['errors']} errors)" if row.get("errors") else ""),
        )
    console.print(table)
    for row in outcome.rows:
        if row.get("detail"):
            console.print(f"[bold]{row['name']}[/]: {row['detail']}")
    if outcome.servers:
        console.print(f"Servers: {outcome.servers}")
    console.print(f"Machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; "
                  "other work on the machine makes figures noisy.")
    missed = [row["name"] for row in outcome.rows if not row["met"]]
    if missed:
        console.print(f"[red]Goals not met[/]: {', '.join(missed)}")
    for skipped in outcome.skipped:
        console.print(f"[yellow]Skipped[/]: {skipped}")
    for error in outcome.errors:
        console.print(f"[red]Error[/]: {error}")


def _number(value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def run_metadata() -> dict[str, Any]:
    """What every row of this run carries: where, what and when it was measured."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=10, check=True).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", False
    return {
        "machine": f"{platform.node()}: {os.cpu_count()} cores, {platform.machine()}, "
                   f"{platform.python_implementation()} {platform.python_version()}",
        "commit": commit + ("+uncommitted changes" if dirty else ""),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def merged_results(previous: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This run's rows replace the previous rows of the same name; rows this run did not produce
    (a module not asked for, or one that failed) keep their earlier figures and metadata, so a
    failed or partial run never wipes out good figures.  Order: by name."""
    by_name = {row["name"]: row for row in previous if isinstance(row, dict) and "name" in row}
    by_name.update({row["name"]: row for row in fresh})
    return [by_name[name] for name in sorted(by_name)]


def read_results(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return rows if isinstance(rows, list) else []


def write_results(outcome: Outcome, path: Path) -> list[str]:
    """Write the merged results atomically; return the names carried over from an earlier run."""
    meta = run_metadata()
    fresh = [{**row, **meta} for row in outcome.rows]
    rows = merged_results(read_results(path), fresh)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(rows, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    partial.replace(path)
    produced = {row["name"] for row in fresh}
    return [row["name"] for row in rows if row["name"] not in produced]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the GramSetu benchmarks.")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    parser.add_argument("--output", type=Path, default=ROOT / ".bench" / "results.json", help="JSON results file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    console = Console(width=None if sys.stdout.isatty() else 160)  # logs and CI: do not wrap at 80
    unknown = [name for name in args.names if name not in available()]
    if unknown:
        console.print(f"[red]unknown benchmark(s)[/]: {', '.join(unknown)}; known: {', '.join(available())}")
        return 2
    outcome: Outcome = run_loop(run_modules(args.names or available(), console))
    render(outcome, console)
    carried = write_results(outcome, args.output)
    console.print(f"Results written to {args.output}")
    if carried:
        console.print(f"[yellow]Kept from earlier runs (not measured now)[/]: {', '.join(carried)}")
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    sys.exit(main())
