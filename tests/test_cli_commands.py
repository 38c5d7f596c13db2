"""Every ``gramsetu`` command, walked from the command tree (a new command is covered without a
change here): it answers ``--help``; with its database and broker unreachable it fails with one
line and a non-zero exit, never a traceback; and beside a running embedded stack it finds the
stack's servers without any environment variable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gramsetu.cli import app
from gramsetu.embedded import free_port
from gramsetu.stack import EmbeddedServers, migrate
from kernel.settings import SERVICES

runner = CliRunner()
URL_VARS = ("GRAMSETU_DATABASE_URL", "DATABASE_URL", "GRAMSETU_NATS_URL", "NATS_URL")


def leaf_commands() -> list[tuple[list[str], Any]]:
    def walk(prefix: list[str], command: Any) -> Iterator[tuple[list[str], Any]]:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                yield from walk([*prefix, name], sub)
        else:
            yield prefix, command

    return list(walk([], typer.main.get_command(app)))


def minimal_args(command: Any, tmp_path: Path) -> list[str]:
    """Values for the required arguments and options, shaped so that parsing succeeds."""
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("household_ref,area_code\n")
    args: list[str] = []
    for param in command.params:
        if not param.required or getattr(param, "prompt", None):
            continue
        annotation = param.type_descriptor.annotation
        value = "1" if annotation is int else str(sheet) if annotation is Path else "BD-40"
        args += [value] if param.param_type_name == "argument" else [param.opts[0], value]
    return args


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(path) for path, _ in leaf_commands()}
    assert {"up", "serve", "migrate", "status", "clients create", "users create", "dlq list",
            "registry import", "demo-data"} <= names


@pytest.mark.parametrize("path", [p for p, _ in leaf_commands()], ids=lambda p: " ".join(p))
def test_every_command_answers_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def _unreachable_env(tmp_path: Path) -> dict[str, str]:
    dead_pg, dead_nats = free_port(), free_port()
    ports = {name: free_port() for name in SERVICES}
    return {
        "GRAMSETU_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{dead_pg}/gramsetu",
        "GRAMSETU_NATS_URL": f"nats://127.0.0.1:{dead_nats}",
        "GRAMSETU_DATA_DIR": str(tmp_path / "data"),
        "GRAMSETU_SERVICE_PORTS": json.dumps(ports),
        "GRAMSETU_SERVICE_URLS": json.dumps({n: f"http://127.0.0.1:{p}" for n, p in ports.items()}),
        "GRAMSETU_GATEWAY_PORT": str(free_port()),
        "GRAMSETU_NEW_USER_PASSWORD": "a-long-enough-password",
        "GRAMSETU_DEBUG": "",
        "COLUMNS": "1000",  # a terminal wide enough that rich does not wrap the one line
    }


# Commands that need neither the database nor the broker, so they succeed with both down.
OFFLINE = {"asyncapi", "demo-data"}
# Commands whose output is a report that names what is down (and exits 1), not a single error line.
REPORTS = {"status"}


@pytest.mark.parametrize("path", [p for p, _ in leaf_commands()], ids=lambda p: " ".join(p))
def test_every_command_fails_in_one_line_when_the_servers_are_down(path: list[str], tmp_path: Path) -> None:
    command = dict((tuple(p), c) for p, c in leaf_commands())[tuple(path)]
    args = [*path, *minimal_args(command, tmp_path)]
    if path == ["asyncapi"]:
        args += ["--output", str(tmp_path / "asyncapi.yaml")]
    if path == ["demo-data"]:
        args += ["--csv", str(tmp_path / "demo.csv")]
    result = runner.invoke(app, args, env=_unreachable_env(tmp_path))
    assert "Traceback" not in result.output, result.output
    if " ".join(path) in OFFLINE:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code != 0, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    if " ".join(path) in REPORTS:
        assert "database: " in result.output and "nats: " in result.output
        return
    errors = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert errors, f"no error message: {result.output!r}"
    assert len(errors) <= 2, result.stderr  # the message (rich may wrap a long one once), nothing more


@pytest.fixture
def beside_a_running_stack(embedded_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedServers]:
    """`make run`'s embedded servers under ./.gramsetu, and a shell with no GramSetu variables."""
    for var in URL_VARS:
        monkeypatch.delenv(var, raising=False)
    servers = EmbeddedServers(embedded_dir / ".gramsetu").start()
    monkeypatch.chdir(embedded_dir)  # after the start: initdb, run as the postgres user, cannot read a root's cwd
    try:
        migrate(["gateway"], servers.database_url)
        yield servers
    finally:
        servers.stop()


def test_clients_and_users_work_beside_make_run_with_no_variables(beside_a_running_stack: EmbeddedServers) -> None:
    env = {var: "" for var in URL_VARS}  # as in a fresh terminal
    created = runner.invoke(app, ["clients", "create", "partner-app", "--scopes", "*", "--json"], env=env)
    assert created.exit_code == 0, created.output
    issued = json.loads(created.stdout)
    assert issued["api_key"] and issued["client_secret"]
    listed = runner.invoke(app, ["clients", "list", "--json"], env=env)
    assert listed.exit_code == 0 and "partner-app" in listed.stdout
    user = runner.invoke(app, ["users", "create", "ward8", "--role", "ward_member", "--area", "BD-40-87-90-54-08",
                               "--json"], env={**env, "GRAMSETU_NEW_USER_PASSWORD": "a-long-enough-password"})
    assert user.exit_code == 0, user.output
    assert json.loads(user.stdout)["username"] == "ward8"
    dlq = runner.invoke(app, ["dlq", "list", "--json"], env=env)
    assert dlq.exit_code == 0, dlq.output
    again = runner.invoke(app, ["clients", "create", "partner-app", "--scopes", "*"], env=env)
    assert again.exit_code == 1 and "Traceback" not in again.output
    assert len([line for line in again.stderr.splitlines() if line.strip()]) == 1, again.stderr
