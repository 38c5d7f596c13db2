"""Demo data for ``gramsetu up``: every service's own ``load_demo`` and the demo API keys.

Each service that has demo data provides ``services/<svc>/demo/__init__.py`` with
``async def load_demo(settings) -> dict[str, int]`` (idempotent: creates through the service's own
service functions in a transaction, returns the counts created).  :func:`load_service_demos` finds
and calls them in the order of ``kernel.settings.SERVICES`` (the registry first: its areas are
what the other services' demo data lives in), so a new service's demo data is loaded without a
change here.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kernel.db import make_engine
from kernel.errors import Conflict
from kernel.settings import SERVICES, Settings
from services.registry.demo.areas import DEMO_AREAS, DEMO_IDENTITY

__all__ = ["DEMO_AREAS", "DEMO_IDENTITY", "demo_api_keys", "demo_loaders", "load_service_demos"]

log = logging.getLogger("gramsetu.demo")

DemoLoader = Callable[[Settings], Awaitable[dict[str, int]]]


def demo_loaders(services: list[str]) -> list[tuple[str, DemoLoader]]:
    """``load_demo`` of each of these services that has a ``demo`` package, registry first."""
    loaders: list[tuple[str, DemoLoader]] = []
    for name in (s for s in SERVICES if s in services):
        module_name = f"services.{name}.demo"
        if importlib.util.find_spec(module_name) is None:
            continue
        loader = getattr(importlib.import_module(module_name), "load_demo", None)
        if loader is not None:
            loaders.append((name, loader))
    return loaders


async def load_service_demos(settings: Settings, services: list[str]) -> dict[str, dict[str, int]]:
    """Run every service's ``load_demo``; a failing one is logged and the others still run
    (the stack is useful without one service's demo data)."""
    counts: dict[str, dict[str, int]] = {}
    for name, loader in demo_loaders(services):
        try:
            counts[name] = dict(await loader(settings))
        except Exception:
            log.exception("demo data for %s could not be loaded", name, extra={"service": name})
            continue
        log.info("demo data for %s: %s", name,
                 ", ".join(f"{n} {what}" for what, n in counts[name].items()) or "nothing new",
                 extra={"service": name, "demo_counts": counts[name]})
    return counts


# Demo gateway clients: one that may do everything, one help desk limited to Tala upazila.
DEMO_CLIENTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None], ...] = (
    ("demo-admin", ("*",), None),
    ("demo-tala-helpdesk", ("registry:read", "tickets:read", "tickets:write"), ("BD-40-87-90",)),
)


async def demo_api_keys(settings: Settings) -> list[dict[str, Any]]:
    """API keys for the demo clients, created or, when they exist, rotated (the gateway keeps only
    hashes, so a key can be shown only when issued).  Saved to ``<data_dir>/demo-keys.json``."""
    from gateway import service

    assert settings.database_url, "demo_api_keys needs a database URL"
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    keys: list[dict[str, Any]] = []
    try:
        for name, scopes, areas in DEMO_CLIENTS:
            async with engine.begin() as conn:
                try:
                    async with conn.begin_nested():
                        issued = await service.create_client(conn, name, list(scopes), list(areas) if areas else None)
                except Conflict:
                    issued = await service.rotate_client(conn, name, 0)
            keys.append({"name": issued.name, "client_id": issued.client_id, "api_key": issued.api_key,
                         "scopes": issued.scopes, "area_scope": issued.area_scope})
    finally:
        await engine.dispose()
    _save_keys(settings.data_dir / "demo-keys.json", keys)
    return keys


def _save_keys(path: Path, keys: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(keys, indent=2) + "\n")
