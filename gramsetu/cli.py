"""The ``gramsetu`` operator CLI: run the stack, run one service, migrate, inspect, replay.

Every command reads the same settings as the services (``GRAMSETU_*``, ``DATABASE_URL``,
``NATS_URL``).  When those are unset, every command uses the embedded servers a running
``gramsetu up`` started (their ports are kept in ``.gramsetu/stack.json``).  An error is one line
on stderr and a non-zero exit, never a traceback (``GRAMSETU_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import nats
import typer
import typer.core
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from rich.console import Console
from rich.table import Table

from gramsetu import asyncapi as asyncapi_doc
from gramsetu import stack
from gramsetu.outbox_cli import outbox_app
from kernel.db import asyncpg_dsn
from kernel.dlq import dlq_size, list_parked, replay
from kernel.logging import configure_logging
from kernel.migrations import upgrade
from kernel.settings import SERVICES, Settings


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line a person can act on."""
    from kernel.errors import Problem

    if isinstance(exc, Problem):
        text = exc.detail
    elif isinstance(exc, (ConnectionError, asyncio.TimeoutError, TimeoutError)) or (
            isinstance(exc, OSError) and exc.errno is not None):
        text = (f"cannot connect ({exc or type(exc).__name__}); is the database / NATS running? "
                "Start the stack with `gramsetu up` or set DATABASE_URL / NATS_URL")
    else:
        orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error: show the driver's
        text = f"{type(orig or exc).__name__}: {orig or exc}"
    return " ".join(str(text).split())


class CliGroup(typer.core.TyperGroup):
    """The root command group: any exception a command raises becomes one line and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors and exits keep their codes
            raise
        except Exception as exc:
            if os.environ.get("GRAMSETU_DEBUG"):
                raise
            typer.echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(1) from exc


app = typer.Typer(help="GramSetu operations: run, migrate and inspect the platform.", no_args_is_help=True,
                  cls=CliGroup, pretty_exceptions_enable=False)
dlq_app = typer.Typer(help="Inspect and replay dead-lettered events.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error is one line, however long

COMPONENTS: tuple[str, ...] = (*SERVICES, "gateway")
T = TypeVar("T")


def _settings() -> Settings:
    """Settings from the environment, falling back to a running embedded stack's servers."""
    return stack.settings_with_running_stack()


def _require(value: str | None, what: str) -> str:
    if not value:
        err.print(f"[red]{what} is not set[/red] (set GRAMSETU_{what} or {what}, or start `gramsetu up`)")
        raise typer.Exit(2)
    return value


def _reachable(url: str, what: str) -> None:
    """Refuse to start a server whose database or broker does not answer (one line, not a traceback)."""
    from urllib.parse import urlparse

    from gramsetu.embedded import port_open

    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or (5432 if what == "PostgreSQL" else 4222)
    if not port_open(host, port, timeout=2.0):
        err.print(f"[red]{what} at {host}:{port} does not answer[/red] (start it, or `gramsetu up`)")
        raise typer.Exit(2)


def _run(coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coro())


async def _connect_nats(url: str) -> NATS:
    async def quiet(exc: Exception) -> None:
        return None

    # Fail fast: nats-py otherwise retries the first connection 60 times, 2 s apart.
    connecting = nats.connect(
        url, connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0.1,
        error_cb=quiet, name="gramsetu-cli",
    )
    return await asyncio.wait_for(connecting, timeout=5)


# ---------------------------------------------------------------- up / serve / migrate


@app.command()
def up(
    host: str = typer.Option(None, help="Interface to listen on [default: settings.host]"),
    port: int = typer.Option(None, help="Gateway port [default: 8000]"),
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Load the demo area tree"),
    service: list[str] = typer.Option(None, "--service", "-s", help="Run only these (repeatable)"),
) -> None:
    """Start the whole stack (embedded PostgreSQL and NATS unless URLs are given) and supervise it."""
    settings = Settings()
    configure_logging("stack", settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # readiness probes are not news
    chosen = list(service) if service else stack.default_services()
    unknown = [s for s in chosen if s not in COMPONENTS]
    if unknown:
        err.print(f"[red]unknown service(s): {', '.join(unknown)}[/red]; choose from {', '.join(COMPONENTS)}")
        raise typer.Exit(2)
    if "gateway" in chosen and not stack.gateway_available():
        err.print("[red]gateway/app.py does not exist yet[/red]")
        raise typer.Exit(2)
    plan = stack.StackPlan(
        settings=settings, services=chosen, host=host or settings.host,
        gateway_port=port or settings.gateway_port, demo=demo,
    )
    raise typer.Exit(stack.run_stack(plan, lambda children, keys: _announce(plan, children, keys)))


def _announce(plan: stack.StackPlan, children: list[stack.Child], keys: list[dict[str, Any]]) -> None:
    table = Table(title="GramSetu is up", show_lines=False)
    table.add_column("component")
    table.add_column("URL", overflow="fold")
    table.add_column("API docs", overflow="fold")
    for child in children:
        base = f"http://{plan.host}:{child.port}"
        table.add_row(child.name, base, f"{base}/docs")
    console.print(table)
    if "gateway" in plan.services:
        console.print(f"Gateway: [bold]http://{plan.host}:{plan.gateway_port}[/bold]  "
                      f"docs: http://{plan.host}:{plan.gateway_port}/docs")
    for key in keys:
        areas = ",".join(key["area_scope"])
        console.print(f"Demo API key [bold]{key['name']}[/bold] (scopes {' '.join(key['scopes'])}; areas {areas}):")
        console.print(f"  {key['api_key']}", soft_wrap=True)
    if keys:
        console.print(f"Send it as the X-API-Key header (saved in {plan.settings.data_dir / 'demo-keys.json'}).")
    console.print("Press Ctrl-C to stop.")


def _import_factory(name: str) -> Callable[..., Any]:
    module = "gateway.app" if name == "gateway" else f"services.{name}.app"
    try:
        return importlib.import_module(module).create_app  # type: ignore[no-any-return]
    except (ModuleNotFoundError, AttributeError) as exc:
        err.print(f"[red]cannot load {module}:create_app: {exc}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    name: str = typer.Argument(..., metavar="SERVICE", help=f"One of {', '.join(COMPONENTS)}"),
    host: str = typer.Option(None, help="[default: settings.host]"),
    port: int = typer.Option(None, help="[default: the service's port in settings]"),
    workers: bool = typer.Option(
        None, "--workers/--no-workers",
        help="Run the outbox relay, consumers and scheduler in this process [default: GRAMSETU_RUN_WORKERS]",
    ),
) -> None:
    """Run one service under uvicorn, as a Kubernetes pod does (needs DATABASE_URL and NATS_URL)."""
    import uvicorn

    from kernel.http import uvicorn_options

    if name not in COMPONENTS:
        err.print(f"[red]unknown service {name!r}[/red]; choose from {', '.join(COMPONENTS)}")
        raise typer.Exit(2)
    settings = _settings()
    _reachable(_require(settings.database_url, "DATABASE_URL"), "PostgreSQL")
    if name != "gateway":
        _reachable(_require(settings.nats_url, "NATS_URL"), "NATS")
    if workers is not None:
        settings = settings.model_copy(update={"run_workers": workers})
    configure_logging(name, settings.log_level)
    application = _import_factory(name)(settings)
    default_port = settings.gateway_port if name == "gateway" else settings.service_ports[name]
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or default_port,
        log_config=None,  # keep our JSON logging
        timeout_graceful_shutdown=10,
        **uvicorn_options(),  # one write per response, no access log, no proxy headers
    )


@app.command()
def migrate(
    services: list[str] = typer.Argument(None, help="Default: every service (and the gateway)"),
) -> None:
    """Apply database migrations."""
    settings = _settings()
    url = _require(settings.database_url, "DATABASE_URL")
    names = list(services) if services else stack.migrated_components(list(COMPONENTS))
    unknown = [s for s in names if s not in COMPONENTS]
    if unknown:
        err.print(f"[red]unknown service(s): {', '.join(unknown)}[/red]")
        raise typer.Exit(2)
    for name in names:
        started = time.monotonic()
        upgrade(name, url)
        console.print(f"migrated [bold]{name}[/bold] ({time.monotonic() - started:.1f}s)")


# ---------------------------------------------------------------- status


async def _service_health(client: httpx.AsyncClient, name: str, url: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "url": url, "ready": False, "checks": None, "error": None}
    try:
        response = await client.get(f"{url}/readyz")
        entry["ready"] = response.status_code == 200
        entry["checks"] = response.json().get("checks")
    except (httpx.HTTPError, ValueError) as exc:
        entry["error"] = type(exc).__name__
    return entry


async def _outbox(database_url: str) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=3)
    out: dict[str, dict[str, Any]] = {}
    try:
        for name in SERVICES:
            try:
                row = await conn.fetchrow(
                    # A batch row carries many events: the backlog counts events, not rows.
                    'SELECT coalesce(sum(events), 0) AS n, '
                    'EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)) AS age '
                    f'FROM "{name}".outbox'
                )
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError, asyncpg.UndefinedColumnError):
                out[name] = {"outbox_backlog": None, "outbox_oldest_age_seconds": None}
                continue
            assert row is not None
            age = row["age"]
            out[name] = {
                "outbox_backlog": int(row["n"]),
                "outbox_oldest_age_seconds": round(float(age), 3) if age is not None else None,
            }
    finally:
        await conn.close()
    return out


async def _bus(nats_url: str) -> dict[str, Any]:
    nc = await _connect_nats(nats_url)
    try:
        js = nc.jetstream()
        streams, consumers = [], []
        for info in sorted(await js.streams_info(), key=lambda i: i.config.name or ""):
            name = info.config.name or ""
            streams.append({"name": name, "messages": info.state.messages, "bytes": info.state.bytes,
                            "consumers": info.state.consumer_count})
            for ci in sorted(await js.consumers_info(name), key=lambda c: c.name or ""):
                consumers.append({
                    "stream": name, "name": ci.name, "num_pending": ci.num_pending,
                    "num_ack_pending": ci.num_ack_pending, "num_redelivered": ci.num_redelivered,
                })
        return {"streams": streams, "consumers": consumers, "dlq_size": await dlq_size(js)}
    finally:
        await nc.close()


async def collect_status(settings: Settings) -> dict[str, Any]:
    names = [*SERVICES, *(["gateway"] if stack.gateway_available() else [])]
    gateway_url = f"http://{settings.host}:{settings.gateway_port}"
    urls = {n: gateway_url if n == "gateway" else settings.service_url(n) for n in names}
    async with httpx.AsyncClient(timeout=2.0) as client:
        services = list(await asyncio.gather(*(_service_health(client, n, urls[n]) for n in names)))
    report: dict[str, Any] = {
        "services": services,
        "database": {"ok": False, "error": None},
        "nats": {"ok": False, "error": None},
        "streams": [], "consumers": [], "dlq_size": None,
    }
    if settings.database_url:
        try:
            outbox = await _outbox(settings.database_url)
            report["database"]["ok"] = True
            for entry in services:
                entry.update(outbox.get(entry["name"], {}))
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
            report["database"]["error"] = f"{type(exc).__name__}: {exc}"
    else:
        report["database"]["error"] = "DATABASE_URL is not set"
    if settings.nats_url:
        try:
            report.update(await _bus(settings.nats_url))
            report["nats"]["ok"] = True
        except Exception as exc:  # any connection failure is reported, not raised
            report["nats"]["error"] = f"{type(exc).__name__}: {exc}"
    else:
        report["nats"]["error"] = "NATS_URL is not set"
    return report


def _healthy(report: dict[str, Any]) -> bool:
    services_up = all(s["ready"] for s in report["services"])
    return bool(report["database"]["ok"] and report["nats"]["ok"] and services_up)


def _fmt(value: Any) -> str:
    return "-" if value is None else str(value)


def _print_status(report: dict[str, Any]) -> None:
    services = Table(title="Services")
    for column in ("service", "ready", "outbox backlog", "oldest event (s)", "URL"):
        services.add_column(column, overflow="fold")
    for s in report["services"]:
        state = "[green]up[/green]" if s["ready"] else "[red]down[/red]"
        services.add_row(s["name"], state, _fmt(s.get("outbox_backlog")),
                         _fmt(s.get("outbox_oldest_age_seconds")), s["url"])
    console.print(services)
    streams = Table(title="Streams")
    for column in ("stream", "messages", "consumers"):
        streams.add_column(column)
    for st in report["streams"]:
        streams.add_row(st["name"], str(st["messages"]), str(st["consumers"]))
    console.print(streams)
    consumers = Table(title="Durable consumers")
    for column in ("stream", "consumer", "pending (lag)", "ack pending", "redelivered"):
        consumers.add_column(column, overflow="fold")
    for c in report["consumers"]:
        consumers.add_row(c["stream"], c["name"], str(c["num_pending"]), str(c["num_ack_pending"]),
                          str(c["num_redelivered"]))
    console.print(consumers)
    for part in ("database", "nats"):
        if report[part]["error"]:
            console.print(f"[red]{part}: {report[part]['error']}[/red]")
    console.print(f"DLQ size: {_fmt(report['dlq_size'])}")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output")) -> None:
    """Which services are up, outbox backlogs, streams, consumer lag and the DLQ size.

    Exits 1 when a service, the database or NATS is down."""
    report = _run(lambda: collect_status(_settings()))
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_status(report)
    raise typer.Exit(0 if _healthy(report) else 1)


# ---------------------------------------------------------------- asyncapi


@app.command("asyncapi")
def asyncapi_command(
    output: Path = typer.Option(asyncapi_doc.DEFAULT_OUTPUT, help="Where to write the document"),
    check: bool = typer.Option(False, "--check", help="Exit 1 if the file differs from the contracts"),
) -> None:
    """Generate the AsyncAPI 3.0 document from the event contracts."""
    if check:
        if asyncapi_doc.differs(output):
            err.print(f"[red]{output} is out of date[/red]; run `gramsetu asyncapi` (or `make asyncapi`)")
            raise typer.Exit(1)
        console.print(f"{output} is up to date")
        return
    asyncapi_doc.write(output)
    console.print(f"wrote {output}")


# ---------------------------------------------------------------- dlq


@dlq_app.command("list")
def dlq_list(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output"),
    limit: int = typer.Option(100, min=1, max=10000),
) -> None:
    """List parked events (dead-letter stream and max-deliveries advisories)."""
    url = _require(_settings().nats_url, "NATS_URL")

    async def fetch() -> list[dict[str, Any]]:
        nc = await _connect_nats(url)
        try:
            return [p.summary() for p in await list_parked(nc.jetstream(), limit=limit)]
        finally:
            await nc.close()

    parked = _run(fetch)
    if as_json:
        typer.echo(json.dumps(parked, indent=2, default=str))
        return
    table = Table(title=f"Dead-lettered events ({len(parked)})")
    for column in ("seq", "source", "time", "subject", "service", "consumer", "deliveries", "reason"):
        table.add_column(column, overflow="fold")
    for p in parked:
        table.add_row(str(p["seq"]), p["source"], _fmt(p["time"]), p["subject"], p["service"], p["consumer"],
                      str(p["deliveries"]), p["reason"])
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    seq: int = typer.Argument(..., min=1, help="Sequence number shown by `gramsetu dlq list`"),
    source: str = typer.Option("dlq", help="dlq (parked by a consumer) or advisory (max deliveries reached)"),
) -> None:
    """Re-publish a parked event to its original subject and remove it from the dead-letter stream."""
    if source not in ("dlq", "advisory"):
        err.print("[red]--source must be dlq or advisory[/red]")
        raise typer.Exit(2)
    url = _require(_settings().nats_url, "NATS_URL")

    async def do_replay() -> str:
        nc = await _connect_nats(url)
        try:
            return await replay(nc.jetstream(), seq, source=source)
        finally:
            await nc.close()

    try:
        subject = _run(do_replay)
    except (NotFoundError, KeyError) as exc:
        err.print(f"[red]no parked event {seq} in {source}[/red] ({type(exc).__name__})")
        raise typer.Exit(1) from exc
    console.print(f"replayed {source} #{seq} to {subject}")


def _mount_gateway_commands() -> None:
    """``gramsetu clients ...`` and ``gramsetu users ...`` come from the gateway package."""
    try:
        from gateway.cli import clients, users
    except ModuleNotFoundError as exc:  # a deployment without the gateway
        if exc.name not in ("gateway", "gateway.cli"):
            raise
        return
    app.add_typer(clients, name="clients")
    app.add_typer(users, name="users")


_mount_gateway_commands()


def _mount_registry_commands() -> None:
    """``gramsetu registry import`` and ``gramsetu demo-data`` (gramsetu/registry_cli.py)."""
    from gramsetu.registry_cli import demo_data, registry_app

    app.add_typer(registry_app, name="registry")
    app.command("demo-data")(demo_data)


_mount_registry_commands()
importlib.import_module("gramsetu.benefits_cli").mount(app)  # gramsetu benefits verify | post
app.add_typer(outbox_app, name="outbox")  # gramsetu/outbox_cli.py: quarantined outbox rows

if __name__ == "__main__":
    app()
