"""Demo data for ``gramsetu up``: a small area tree in India and in Bangladesh.

Areas are created through the registry's own service functions, in one transaction, so
each one writes its ``registry.area.created.v1`` event to the outbox and the other services
build their area replicas from the events, exactly as with areas created over the API.
Loading is idempotent: areas that already exist are skipped.

The codes follow the official shapes (LGD for India, BBS geocodes for Bangladesh) but below
state/division and district level they are illustrative, not the official codes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.db import make_engine, make_sessionmaker, transaction
from kernel.errors import Conflict
from kernel.settings import Settings


@dataclass(frozen=True)
class DemoArea:
    code: str
    name: str
    name_local: str


DEMO_AREAS: tuple[DemoArea, ...] = (
    DemoArea("IN", "India", "भारत"),
    DemoArea("IN-23", "Madhya Pradesh", "मध्य प्रदेश"),
    DemoArea("IN-23-0437", "Bhopal", "भोपाल"),
    DemoArea("IN-23-0437-3561", "Phanda", "फंदा"),
    DemoArea("IN-23-0437-3561-123001", "Khajuri Sadak", "खजूरी सड़क"),
    DemoArea("IN-23-0437-3561-123001-482001", "Khajuri Sadak", "खजूरी सड़क"),
    DemoArea("IN-23-0456", "Panna", "पन्ना"),
    DemoArea("IN-23-0456-2210", "Panna", "पन्ना"),
    DemoArea("IN-23-0456-2210-123456", "Janakpur", "जनकपुर"),
    DemoArea("IN-23-0456-2210-123456-654321", "Janakpur", "जनकपुर"),
    DemoArea("BD", "Bangladesh", "বাংলাদেশ"),
    DemoArea("BD-40", "Khulna", "খুলনা"),
    DemoArea("BD-40-87", "Satkhira", "সাতক্ষীরা"),
    DemoArea("BD-40-87-90", "Tala", "তালা"),
    DemoArea("BD-40-87-90-54", "Nagarghata", "নগরঘাটা"),
    DemoArea("BD-40-87-90-54-08", "Ward 8", "ওয়ার্ড ৮"),
)

log = logging.getLogger("gramsetu.demo")

DEMO_IDENTITY = Identity(
    subject="gramsetu-demo", kind="system", roles=["admin"], scopes=["*"], area_scope=["IN", "BD"]
)


async def load_demo(settings: Settings) -> int:
    """Create the demo areas that do not exist yet; returns how many were created."""
    from services.registry.repository import AreaRepository
    from services.registry.schemas import AreaCreate
    from services.registry.service import create_area

    assert settings.database_url, "load_demo needs a database URL"
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    created = 0
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            repo = AreaRepository(session)
            for area in DEMO_AREAS:  # parents come before their children
                if await repo.get(area.code) is not None:
                    continue
                body = AreaCreate(code=area.code, name=area.name, name_local=area.name_local)
                await create_area(session, DEMO_IDENTITY, body)
                created += 1
        async with transaction(make_sessionmaker(engine)) as session:
            await load_demo_households(session)
    finally:
        await engine.dispose()
    return created


# Synthetic households (services/registry/demo) in the demo's leaf areas: the wards and villages.
DEMO_HOUSEHOLD_AREAS: tuple[str, ...] = (
    "BD-40-87-90-54-08", "IN-23-0437-3561-123001-482001", "IN-23-0456-2210-123456-654321",
)
DEMO_HOUSEHOLDS = 200
DEMO_SEED = 2026


async def load_demo_households(session: AsyncSession) -> int:
    """Import the demo households through the registry's bulk-import fast path (idempotent: the
    same sheet is one import job, and rows already registered are skipped); returns how many were new."""
    from services.registry.demo.load import load_households

    results = await load_households(session, DEMO_IDENTITY, DEMO_HOUSEHOLD_AREAS, households=DEMO_HOUSEHOLDS,
                                    seed=DEMO_SEED)
    created = sum(r.job["households_created"] for r in results if not r.reused)
    log.info("demo data: %d households created", created, extra={"households_created": created})
    return created


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
