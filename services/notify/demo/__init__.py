"""Notify's demo data for ``gramsetu up``: the India UIP schedule, templates in Hindi, Bengali and English
(with DLT ids), and anganwadi workers for the demo villages.  Idempotent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.settings import Settings

HERE = Path(__file__).resolve().parent
SCHEDULE_FILE = HERE / "uip_schedule_in_2024.json"
TEMPLATES_FILE = HERE / "templates.json"
RULES_FILE = HERE / "rules.json"  # which ticket, booking and benefit events send which SMS
DEMO_WORKERS: tuple[dict[str, str], ...] = (
    {"id": "aww-in-654321", "name": "Sunita Devi", "phone": "+919800000101",
     "area_code": "IN-23-0456-2210-123456-654321", "language": "hi"},
    {"id": "aww-in-482001", "name": "Rekha Bai", "phone": "+919800000102",
     "area_code": "IN-23-0437-3561-123001-482001", "language": "hi"},
    {"id": "aww-bd-5408", "name": "Shahana Begum", "phone": "+8801700000103", "area_code": "BD-40-87-90-54-08",
     "language": "bn"},
)


def schedule_document() -> dict[str, Any]:
    return json.loads(SCHEDULE_FILE.read_text())  # type: ignore[no-any-return]


def template_documents() -> list[dict[str, Any]]:
    return json.loads(TEMPLATES_FILE.read_text())  # type: ignore[no-any-return]


def rule_documents() -> list[dict[str, Any]]:
    return json.loads(RULES_FILE.read_text())  # type: ignore[no-any-return]


async def load_demo(settings: Settings) -> dict[str, int]:
    from kernel.auth import Identity
    from kernel.db import make_engine, make_sessionmaker, transaction
    from services.notify.repository import contacts as contacts_repo
    from services.notify.repository import rules as rules_repo
    from services.notify.repository import templates as templates_repo
    from services.notify.schemas import TemplateCreate
    from services.notify.schemas.rules import RuleCreate
    from services.notify.service.duelists import publish_schedule
    from services.notify.service.templates import create_template

    assert settings.database_url, "load_demo needs a database URL"
    identity = Identity(subject="demo-loader", kind="system", roles=["admin"], scopes=["*"], area_scope=["IN", "BD"])
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    counts = {"schedules": 0, "templates": 0, "workers": 0, "rules": 0}
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            counts["schedules"] = int(await publish_schedule(session, schedule_document()))
            for doc in template_documents():
                if await templates_repo.current(session, doc["key"], doc["language"]) is None:
                    await create_template(session, identity, TemplateCreate.model_validate(doc))
                    counts["templates"] += 1
            for rule in rule_documents():
                await rules_repo.upsert(session, RuleCreate.model_validate(rule).model_dump())
                counts["rules"] += 1
            for worker in DEMO_WORKERS:
                if await contacts_repo.get_worker(session, worker["id"]) is None:
                    counts["workers"] += 1
                await contacts_repo.upsert_worker(session, dict(worker))
    finally:
        await engine.dispose()
    return counts
