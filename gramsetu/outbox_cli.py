"""``gramsetu outbox list|retry|drop``: outbox rows the relay quarantined after repeated failures.

A row lands in ``<service>.outbox_quarantine`` when it failed ``GRAMSETU_RELAY_MAX_ATTEMPTS``
times for a reason of its own (an event over the size limit, a corrupt batch line, refused by
the stream).  ``retry`` puts rows back in the outbox (after the cause is fixed, e.g. the stream's
limit raised); ``drop`` deletes them, so their events are never published.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from kernel.db import asyncpg_dsn
from kernel.outbox import drop_quarantined, list_quarantined, retry_quarantined
from kernel.settings import SERVICES

outbox_app = typer.Typer(help="Outbox rows the relay quarantined: list, retry, drop.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _database_url() -> str:
    from gramsetu.cli import _require, _settings

    return _require(_settings().database_url, "DATABASE_URL")


def _services(service: str | None) -> tuple[str, ...]:
    if service is None:
        return SERVICES
    if service not in SERVICES:
        err.print(f"[red]unknown service {service!r}[/red] (one of {', '.join(SERVICES)})")
        raise typer.Exit(2)
    return (service,)


def _ids(values: list[str]) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(v) for v in values]
    except ValueError as exc:
        err.print(f"[red]not an outbox row id: {exc}[/red]")
        raise typer.Exit(2) from exc


async def _each_service(services: tuple[str, ...], action: Any) -> dict[str, Any]:
    conn = await asyncpg.connect(asyncpg_dsn(_database_url()), timeout=5)
    out: dict[str, Any] = {}
    try:
        for schema in services:
            try:
                out[schema] = await action(conn, schema)
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                continue  # that service is not migrated here
    finally:
        await conn.close()
    return out


@outbox_app.command("list")
def outbox_list(
    service: str | None = typer.Option(None, help="Only this service"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output"),
    limit: int = typer.Option(100, min=1, max=10000),
) -> None:
    """Quarantined outbox rows, oldest first, with their attempts and last error."""
    from gramsetu.cli import _run

    found = _run(lambda: _each_service(_services(service),
                                       lambda conn, schema: list_quarantined(conn, schema, limit=limit)))
    rows = [row for per_service in found.values() for row in per_service]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"Quarantined outbox rows ({len(rows)})")
    for column in ("service", "id", "subject", "events", "bytes", "attempts", "quarantined_at", "last_error"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r["service"], str(r["id"]), r["subject"], str(r["events"]), str(r["bytes"]),
                      str(r["attempts"]), str(r["quarantined_at"]), r["last_error"] or "")
    console.print(table)


@outbox_app.command("retry")
def outbox_retry(
    ids: list[str] = typer.Argument(None, help="Row ids from `gramsetu outbox list`"),
    all_rows: bool = typer.Option(False, "--all", help="Every quarantined row"),
    service: str | None = typer.Option(None, help="Only this service"),
) -> None:
    """Put quarantined rows back in the outbox (attempts reset); the relay publishes them again."""
    from gramsetu.cli import _run

    if not ids and not all_rows:
        err.print("[red]give row ids or --all[/red]")
        raise typer.Exit(2)
    chosen = None if all_rows else _ids(ids)
    moved = _run(lambda: _each_service(_services(service),
                                       lambda conn, schema: retry_quarantined(conn, schema, chosen)))
    console.print(f"{sum(moved.values())} rows back in the outbox")


@outbox_app.command("drop")
def outbox_drop(
    ids: list[str] = typer.Argument(..., help="Row ids from `gramsetu outbox list`"),
    service: str | None = typer.Option(None, help="Only this service"),
) -> None:
    """Delete quarantined rows for good: their events are never published."""
    from gramsetu.cli import _run

    chosen = _ids(ids)
    dropped = _run(lambda: _each_service(_services(service),
                                         lambda conn, schema: drop_quarantined(conn, schema, chosen)))
    console.print(f"{sum(dropped.values())} rows dropped")
