"""``gramsetu benefits verify`` and ``gramsetu benefits post``: the ledger from the command line.

Both call the benefits service functions directly (no HTTP), as the gateway's API does: ``verify``
recomputes every hash chain in the database and checks each signed chain head (exit status 1 when
any chain is broken); ``post`` posts a department's CSV/XLSX file with a progress bar and prints the
rows it rejected or held.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernel.auth import Identity
from kernel.db import make_engine, make_sessionmaker, transaction
from kernel.errors import Problem

benefits_app = typer.Typer(help="Benefits ledger: verify the hash chains, post a department's file.",
                           no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def mount(app: typer.Typer) -> None:
    app.add_typer(benefits_app, name="benefits")


def _database_url() -> str:
    from gramsetu.cli import _require, _settings

    return _require(_settings().database_url, "DATABASE_URL")


async def _verify(partition: str | None) -> Any:
    from services.benefits.service.chain import verify

    engine = make_engine(_database_url(), pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await verify(session, partition)
    finally:
        await engine.dispose()


@benefits_app.command("verify")
def verify_command(
    partition: str = typer.Option(None, "--partition", help="Only chains whose partition starts with this, "
                                                             "e.g. BD-OAA: or BD-OAA:2026-11"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Recompute every ledger hash chain and check its signed head; exit 1 if any is broken."""
    report = asyncio.run(_verify(partition))
    broken = [p for p in report.partitions if not p.intact]
    if as_json:
        console.print_json(json.dumps({"intact": report.intact, "entries": report.entries,
                                       "partitions": len(report.partitions), "seconds": round(report.seconds, 3),
                                       "broken": [vars(p) for p in broken]}))
    else:
        console.print(f"{report.entries:,} entries in {len(report.partitions):,} chains checked in "
                      f"{report.seconds:.1f} s: " + ("[green]all intact[/green]" if report.intact
                                                   else f"[red]{len(broken)} broken[/red]"))
        if broken:
            table = Table(title="Broken chains")
            for column in ("partition", "first broken entry", "problems"):
                table.add_column(column, overflow="fold")
            for p in broken:
                table.add_row(p.partition, str(p.first_broken_seq), "; ".join(p.problems))
            console.print(table)
    if broken:
        raise typer.Exit(1)


async def _post(data: bytes, name: str, department: str, subject: str) -> Any:
    """Stage the file and post its rows here, one step per transaction (the scheduler's job finds
    nothing left), with a bar that moves as each step commits."""
    from services.benefits.repository.files import FileRepository
    from services.benefits.service.files import post_step, receive_file

    identity = Identity(subject=subject, kind="system", roles=["admin"], scopes=["benefits:*"], area_scope=["IN", "BD"])
    engine = make_engine(_database_url(), pool_size=1, max_overflow=0)
    sessions = make_sessionmaker(engine)
    columns = (TextColumn("[bold]posting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        async with transaction(sessions) as session:
            result = await receive_file(session, identity, data, department=department, file_name=name,
                                        now=datetime.now(timezone.utc))
        row = result.file
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("rows", total=row["rows_total"], completed=row["rows_done"])
            while row["status"] != "done":
                async with transaction(sessions) as session:
                    row = await post_step(session, identity, row["id"], datetime.now(timezone.utc))
                bar.update(task, completed=row["rows_done"])
        async with transaction(sessions) as session:
            problems, _ = await FileRepository(session).rows(row["id"], statuses=["rejected", "held"], limit=20,
                                                              offset=0)
        return result.repeated, row, problems
    finally:
        await engine.dispose()


@benefits_app.command("post")
def post_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or XLSX file"),
    department: str = typer.Option(..., "--department", help="The department whose schemes the file pays"),
    subject: str = typer.Option("gramsetu-cli", "--as", help="Who is recorded as the poster"),
) -> None:
    """Post a department's file of benefits given (columns: GET /benefits/files/template.csv)."""
    try:
        result = asyncio.run(_post(path.read_bytes(), path.name, department.upper(), subject))
    except Problem as exc:
        err.print(f"[red]{exc.title}[/red]: {exc.detail}")
        raise typer.Exit(1) from exc
    repeated, f, problems = result
    title = f"File {f['id']}" + (" (posted before; nothing done)" if repeated else "")
    table = Table(title=title)
    table.add_column("")
    table.add_column("rows", justify="right")
    for key in ("rows_total", "accepted", "held", "rejected", "repeated"):
        table.add_row(key.replace("_", " "), str(f[key]))
    console.print(table)
    if problems:
        rows = Table(title="First rows rejected or held (GET /benefits/files/{id}/rows has them all)")
        for column in ("row", "status", "field", "reason"):
            rows.add_column(column, overflow="fold")
        for r in problems:
            first = (r["errors"] or [{"field": "", "reason": "held for review"}])[0]
            rows.add_row(str(r["row"]), r["status"], first["field"], first["reason"])
        console.print(rows)
