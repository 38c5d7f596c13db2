"""``gramsetu clients ...`` and ``gramsetu users ...``: provision the gateway's callers.

Mounted into the main ``gramsetu`` CLI.  Talks to the gateway's schema directly (like the
admin API, which shares the same service functions); ``--json`` prints machine-readable JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict
from typing import Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway import service
from gateway.config import GatewayConfig
from gateway.models import ROLES, ClientRecord, IssuedCredentials, UserRecord
from kernel.db import make_engine
from kernel.errors import Problem
from kernel.settings import Settings

T = TypeVar("T")
app = typer.Typer(help="Gateway clients (partner apps, department systems) and operator users.", no_args_is_help=True)
clients = typer.Typer(help="API clients: keys, OAuth2 client credentials, scopes.", no_args_is_help=True)
users = typer.Typer(help="Operators who log in: roles and area scope.", no_args_is_help=True)
app.add_typer(clients, name="clients")
app.add_typer(users, name="users")


async def _run(work: Callable[[AsyncConnection], Awaitable[T]], settings: Settings | None = None) -> T:
    from gramsetu.stack import settings_with_running_stack

    settings = settings or settings_with_running_stack()
    if not settings.database_url:
        raise Problem("The database is not known: set GRAMSETU_DATABASE_URL or DATABASE_URL, "
                      "or start the stack with `gramsetu up`.", status=503, type_slug="no-database",
                      title="No database")
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            return await work(conn)
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- plain async API (for `gramsetu up`)
async def provision_client(
    name: str, scopes: list[str], area_scope: list[str] | None = None, *, cors_origins: list[str] | None = None,
    rate_per_minute: float | None = None, roles: list[str] | None = None, settings: Settings | None = None,
) -> IssuedCredentials:
    """Create a client and return its credentials (the only time they are visible)."""
    return await _run(lambda c: service.create_client(c, name, scopes, area_scope, cors_origins=cors_origins or [],
                                                      rate_per_minute=rate_per_minute, roles=roles or []),
                      settings)


async def provision_user(
    username: str, password: str, roles: list[str], area_scope: list[str], *, display_name: str | None = None,
    settings: Settings | None = None,
) -> UserRecord:
    return await _run(lambda c: service.create_user(c, username, password, roles, area_scope,
                                                    display_name=display_name), settings)


# ---------------------------------------------------------------- output
def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(asdict(value), default=str))


def _emit(value: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        typer.echo(json.dumps(value, indent=2))
    else:
        human()


def _sync(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except Problem as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(code=1) from exc


def _lines(lines: Iterable[str]) -> None:
    for line in lines:
        typer.echo(line)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _show_credentials(issued: IssuedCredentials) -> None:
    typer.echo(f"client_id:     {issued.client_id}  ({issued.name})")
    typer.echo(f"client_secret: {issued.client_secret}")
    typer.echo(f"api_key:       {issued.api_key}")
    typer.echo(f"scopes:        {' '.join(issued.scopes)}")
    typer.echo(f"area scope:    {' '.join(issued.area_scope)}")
    if issued.old_credentials_expire_at:
        typer.echo(f"old key and secret work until {issued.old_credentials_expire_at.isoformat()}")
    typer.echo("Store these now: the gateway keeps only their hashes.")


def _client_line(c: ClientRecord) -> str:
    state = f"revoked {c.revoked_at:%Y-%m-%d}" if c.revoked_at else "active"
    return f"{c.id}  {c.name:<24} {state:<18} scopes={','.join(c.scopes)} areas={','.join(c.area_scope)}"


# ---------------------------------------------------------------- clients
@clients.command("create")
def clients_create(
    name: str,
    scopes: list[str] = typer.Option(..., "--scopes", "-s", help="e.g. registry:read,benefits:write (repeatable)"),
    area: list[str] = typer.Option(None, "--area", "-a", help="Area code(s) the client may act in; default: all"),
    cors: list[str] = typer.Option(None, "--cors-origin", help="Browser origin allowed for this client"),
    rate: float = typer.Option(None, "--rate-per-minute", help="Override the default request rate"),
    role: list[str] = typer.Option(None, "--role", "-r",
                                   help="Operator role(s) a system acting for people carries (docs/roles.md)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (client_id, client_secret, api_key, ...)"),
) -> None:
    """Create a client; its secret and API key are shown once."""
    issued = _sync(provision_client(name, _split(scopes), _split(area) or None, cors_origins=_split(cors),
                                    rate_per_minute=rate, roles=_split(role)))
    _emit(_jsonable(issued), as_json, lambda: _show_credentials(issued))


@clients.command("rotate")
def clients_rotate(
    client: str = typer.Argument(..., help="Client id or name"),
    overlap: int = typer.Option(GatewayConfig().rotation_overlap_seconds, help="Seconds the old credentials last"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Issue a new API key and secret; the old ones keep working for the overlap."""
    issued = _sync(_run(lambda c: service.rotate_client(c, client, overlap)))
    _emit(_jsonable(issued), as_json, lambda: _show_credentials(issued))


@clients.command("revoke")
def clients_revoke(client: str = typer.Argument(..., help="Client id or name"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Revoke a client: its keys, secrets and tokens stop working."""
    record = _sync(_run(lambda c: service.revoke_client(c, client)))
    _emit(_jsonable(record), as_json, lambda: typer.echo(f"revoked {record.id} ({record.name})"))


@clients.command("list")
def clients_list(all_: bool = typer.Option(False, "--all", help="Include revoked clients"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    records = _sync(_run(lambda c: service.list_clients(c, include_revoked=all_)))
    _emit([_jsonable(r) for r in records], as_json, lambda: _lines(_client_line(r) for r in records))


# ---------------------------------------------------------------- users
def _user_line(u: UserRecord) -> str:
    state = "disabled" if u.disabled_at else "active"
    return f"{u.username:<24} {state:<9} roles={','.join(u.roles)} areas={','.join(u.area_scope)}"


@users.command("create")
def users_create(
    username: str,
    role: list[str] = typer.Option(..., "--role", "-r", help=f"One of: {', '.join(ROLES)}"),
    area: list[str] = typer.Option(..., "--area", "-a", help="Area code(s): the subtree the operator works in"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="GRAMSETU_NEW_USER_PASSWORD"),
    display_name: str = typer.Option(None, "--name"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create an operator who logs in at /auth/login."""
    user = _sync(provision_user(username, password, _split(role), _split(area), display_name=display_name))
    _emit(_jsonable(user), as_json, lambda: typer.echo(_user_line(user)))


@users.command("list")
def users_list(as_json: bool = typer.Option(False, "--json")) -> None:
    records = _sync(_run(service.list_users))
    _emit([_jsonable(r) for r in records], as_json, lambda: _lines(_user_line(r) for r in records))


@users.command("update")
def users_update(
    username: str,
    role: list[str] = typer.Option(None, "--role", "-r"),
    area: list[str] = typer.Option(None, "--area", "-a"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Replace an operator's roles and/or area scope."""
    user = _sync(_run(lambda c: service.update_user(c, username, roles=_split(role) or None,
                                                    area_scope=_split(area) or None)))
    _emit(_jsonable(user), as_json, lambda: typer.echo(_user_line(user)))


@users.command("set-password")
def users_set_password(
    username: str,
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="GRAMSETU_NEW_USER_PASSWORD"),
) -> None:
    _sync(_run(lambda c: service.update_user(c, username, password=password)))
    typer.echo(f"password changed for {username}")


@users.command("disable")
def users_disable(username: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Disable an operator: logins and outstanding tokens stop working."""
    user = _sync(_run(lambda c: service.update_user(c, username, disabled=True)))
    _emit(_jsonable(user), as_json, lambda: typer.echo(_user_line(user)))


@users.command("enable")
def users_enable(username: str, as_json: bool = typer.Option(False, "--json")) -> None:
    user = _sync(_run(lambda c: service.update_user(c, username, disabled=False)))
    _emit(_jsonable(user), as_json, lambda: typer.echo(_user_line(user)))
