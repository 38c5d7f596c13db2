"""``gramsetu registry import`` and ``gramsetu demo-data``: registry data from the command line.

Both call the registry's service functions directly (no HTTP, so no upload limit), in one
transaction per import, as an operator with the given area scope.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernel.auth import Identity
from kernel.db import make_engine, make_sessionmaker, transaction
from kernel.errors import Problem

registry_app = typer.Typer(help="Registry data: bulk import of survey sheets, matching a file of person records.",
                            no_args_is_help=True)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error is one line, however long


def _database_url() -> str:
    from gramsetu.cli import _require, _settings

    return _require(_settings().database_url, "DATABASE_URL")


def operator(subject: str, areas: list[str]) -> Identity:
    return Identity(subject=subject, kind="system", roles=["admin"], scopes=["registry:*"], area_scope=areas)


def _count_rows(path: Path) -> int | None:
    """Data rows of a CSV (newlines minus the header), for the progress bar; None for XLSX."""
    with path.open("rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            return None
        fh.seek(0)
        return max(sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) - 1, 0)


def _summary(job: Any, reused: bool) -> Table:
    table = Table(title="Import " + str(job["id"]) + (" (already imported; nothing done)" if reused else ""))
    table.add_column("")
    table.add_column("count", justify="right")
    for key in ("rows_total", "rows_valid", "rows_invalid", "persons_created", "persons_existing",
                "households_created", "households_updated", "duplicates_flagged"):
        table.add_row(key.replace("_", " "), str(job[key]))
    table.add_row("seconds", f"{job['duration_seconds']:.1f}")
    if job.get("search_index") == "pending":  # a large import: the registry service's scheduler builds it
        table.add_row("name search / duplicate flags", "pending (background job)")
    return table


async def _import(path: Path, area: str, subject: str) -> tuple[Any, bool, list[Any]]:
    from services.registry.service.imports import import_file, report_rows
    from services.registry.service.imports_files import open_path

    engine = make_engine(_database_url(), pool_size=1, max_overflow=0)
    total = _count_rows(path)
    columns = (TextColumn("[bold]importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("rows", total=total)
            async with transaction(make_sessionmaker(engine)) as session:
                result = await import_file(session, operator(subject, [area]), open_path(path), area,
                                           file_name=path.name,
                                           progress=lambda n: bar.update(task, completed=n))
                bar.update(task, completed=result.job["rows_total"], total=result.job["rows_total"])
                errors = await report_rows(session, result.job["id"], limit=20)
    finally:
        await engine.dispose()
    return result.job, result.reused, errors


@registry_app.command("import")
def import_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or XLSX survey sheet"),
    area: str = typer.Option(..., "--area", help="The area the sheet is for; rows outside it are rejected"),
    subject: str = typer.Option("gramsetu-cli", "--as", help="Who is recorded as the importer"),
) -> None:
    """Import a survey sheet (the template: docs/registry-import-template.md) with a progress bar."""
    try:
        job, reused, errors = asyncio.run(_import(path, area.upper(), subject))
    except Problem as exc:
        err.print(f"[red]{exc.title}[/red]: {exc.detail}")
        raise typer.Exit(1) from exc
    console.print(_summary(job, reused))
    if errors:
        table = Table(title=f"First rejected fields (GET /registry/imports/{job['id']}/report.csv has them all)")
        for column in ("row", "field", "reason"):
            table.add_column(column, overflow="fold")
        for e in errors:
            table.add_row(str(e["row"]), e["field"], e["reason"])
        console.print(table)


async def _rekey(batch_size: int) -> int:
    from services.registry.service.names_rekey import rekey_names

    engine = make_engine(_database_url(), pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await rekey_names(session, batch_size=batch_size)
    finally:
        await engine.dispose()


@registry_app.command("rekey-names")
def rekey_names_command(batch_size: int = typer.Option(2000, min=1, help="Persons per batch")) -> None:
    """Recompute stored name keys and search tokens with the current name rules (run after they change)."""
    console.print(f"{asyncio.run(_rekey(batch_size)):,} persons re-keyed")


def demo_data(
    area: list[str] = typer.Option(..., "--area", help="Area code(s) to fill; households are spread over them"),
    count: int = typer.Option(100, "--count", min=1, help="Households to generate"),
    persons: int = typer.Option(None, "--persons", min=1, help="Generate households until this many persons"),
    seed: int = typer.Option(1, "--seed", help="Same seed, same people"),
    csv_path: Path = typer.Option(None, "--csv", dir_okay=False, help="Write the import template CSV here"),
    lang: str = typer.Option("en", "--lang", help="Column names of the CSV: en, hi or bn"),
) -> None:
    """Synthetic households (Bengali names for BD areas, Hindi for IN, valid IDs): to a CSV, or loaded
    into the registry through the bulk-import fast path."""
    from services.registry.demo.people import generate, write_csv_file

    areas = [a.upper() for a in area]
    if lang not in ("en", "hi", "bn"):
        err.print("[red]--lang must be en, hi or bn[/red]")
        raise typer.Exit(2)
    if csv_path is not None:
        rows = generate(areas, households=None if persons else count, persons=persons, seed=seed)
        written = write_csv_file(csv_path, rows, lang)
        console.print(f"wrote {written} persons to {csv_path}")
        return
    if persons:
        err.print("[red]--persons works with --csv; load by households with --count[/red]")
        raise typer.Exit(2)
    try:
        results = asyncio.run(_load(areas, count, seed))
    except Problem as exc:
        err.print(f"[red]{exc.title}[/red]: {exc.detail}")
        raise typer.Exit(1) from exc
    for result in results:
        console.print(_summary(result.job, result.reused))


async def _load(areas: list[str], count: int, seed: int) -> list[Any]:
    from services.registry.demo.load import load_households

    engine = make_engine(_database_url(), pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await load_households(session, operator("gramsetu-demo-data", areas), areas, households=count,
                                         seed=seed)
    finally:
        await engine.dispose()




@contextmanager
def _phases() -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar per phase (reading, comparing, ...), fed by ``step(phase, done, total)``."""
    columns = (TextColumn("[bold]{task.description:10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, Any] = {}

        def step(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield step


@registry_app.command("match")
def match_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="CSV: record_id, given_name, family_name, guardian_name, guardian_relation, "
                                     "sex, dob, birth_year, age_estimate, registered_on, area_code, phone, aadhaar, "
                                     "nid, brn, household"),
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write id_l,id_r,match_probability"),
    threshold: float = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                    help="Write pairs at or above this probability (default: the operating threshold)"),
    model_out: Path = typer.Option(None, "--model-out", dir_okay=False,
                                   help="Also write the m/u parameters EM learned from this file (JSON)"),
) -> None:
    """Find the records of one person across Bengali, Devanagari and Latin spellings (docs/matching.md).
    Works on the file alone: nothing is read from or written to the registry."""
    from services.registry.rules.matching.engine import DEFAULT_THRESHOLD
    from services.registry.service.matching.files import MatchFileError, match_file

    with _phases() as step:
        try:
            result = match_file(path, out, threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                                step=step, total_rows=_count_rows(path), workers=min(2, os.cpu_count() or 1))
        except (MatchFileError, UnicodeDecodeError) as exc:
            err.print(f"[red]cannot match {path}[/red]: {exc}")
            raise typer.Exit(2) from exc
    if model_out is not None and result.result is not None:
        model_out.write_text(result.result.model.to_json(), encoding="utf-8")
    table = Table(title=f"{path.name} → {out}")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("records", f"{result.records:,}")
    for rule, count in result.per_rule.items():
        table.add_row(f"  pairs from rule {rule}", f"{count:,}")
    table.add_row("comparisons (union of the rules)", f"{result.comparisons:,}")
    table.add_row("pairs written", f"{result.pairs_written:,}")
    table.add_row("  pairs the clustering set apart (a chain of two people)", f"{result.set_apart:,}")
    table.add_row("persons (clusters)", f"{result.persons:,}")
    table.add_row("seconds", " ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
    console.print(table)


async def _match_registry(threshold: float, step: Any) -> Any:
    from services.registry.service.matching.batch import match_registry

    engine = make_engine(_database_url(), pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await match_registry(session, threshold=threshold, step=step)
    finally:
        await engine.dispose()


@registry_app.command("match-registry")
def match_registry_command(
    threshold: float = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                    help="Queue pairs at or above this probability (default: the operating threshold)"),
) -> None:
    """Match every active person in the registry (batch mode): learn the model from them, store it for
    the checks on every new or edited record, and queue the pairs found (one transaction)."""
    from services.registry.rules.matching.engine import DEFAULT_THRESHOLD

    with _phases() as step:
        outcome = asyncio.run(_match_registry(DEFAULT_THRESHOLD if threshold is None else threshold, step))
    console.print(f"{outcome.persons:,} persons, {outcome.comparisons:,} comparisons, "
                  f"{outcome.above_threshold:,} pairs at or above the threshold, {outcome.queued:,} newly queued")
