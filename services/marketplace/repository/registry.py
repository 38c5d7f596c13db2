"""The local copy of the registry's persons (status, merges, identifier types) and its freshness."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.marketplace.models import registry_copy, registry_person, worker
from services.marketplace.repository.common import first, rows
from services.marketplace.rules.registry_link import PersonCopy

STREAM = "registry"


class RegistryCopyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert_person(self, person_id: uuid.UUID, status: str, identifier_types: Sequence[str],
                            version: int) -> bool:
        """Insert, or update when ``version`` is newer (a replayed or older event changes nothing); True if
        applied.  A merge already recorded is kept: the person event does not undo ``merged_into``."""
        stmt = pg_insert(registry_person).values(person_id=person_id, status=status, version=version,
                                                 identifier_types=sorted(identifier_types))
        upsert = stmt.on_conflict_do_update(
            index_elements=["person_id"],
            set_={"status": stmt.excluded.status, "identifier_types": stmt.excluded.identifier_types,
                  "version": stmt.excluded.version, "synced_at": func.now()},
            where=registry_person.c.version < stmt.excluded.version,
        ).returning(registry_person.c.person_id)
        return (await self.session.execute(upsert)).first() is not None

    async def ensure_person(self, person_id: uuid.UUID) -> None:
        """A merge or a death can arrive before the person's own event: a placeholder (version 0)."""
        await self.session.execute(pg_insert(registry_person).values(
            person_id=person_id, status="active", version=0).on_conflict_do_nothing())

    async def set_status(self, person_id: uuid.UUID, status: str, *, version: int | None = None,
                         merged_into: uuid.UUID | None = None) -> None:
        values: dict[str, Any] = {"status": status, "synced_at": func.now()}
        stmt = update(registry_person).where(registry_person.c.person_id == person_id)
        if merged_into is not None:
            values["merged_into"] = merged_into
        if version is not None:
            stmt = stmt.where(registry_person.c.version <= version)
            values["version"] = version
        await self.session.execute(stmt.values(**values))

    async def persons(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PersonCopy]:
        if not ids:
            return {}
        found = await rows(self.session, select(registry_person).where(registry_person.c.person_id.in_(list(ids))))
        return {r["person_id"]: PersonCopy(r["person_id"], r["status"], r["merged_into"],
                                           tuple(r["identifier_types"]), r["version"]) for r in found}

    async def linked_workers(self, person_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        """Workers linked to these persons, locked (an enrolment or availability change waits)."""
        stmt = (select(worker.c.id, worker.c.registry_person_id, worker.c.registry_identifier_type,
                       worker.c.registry_link_status)
                .where(worker.c.registry_person_id.in_(list(person_ids))).order_by(worker.c.id).with_for_update())
        return list(await rows(self.session, stmt))

    async def touch(self, occurred_at: datetime) -> None:
        stmt = pg_insert(registry_copy).values(stream=STREAM, last_event_at=occurred_at, last_applied_at=func.now(),
                                               events_applied=1)
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["stream"], set_={
            "last_event_at": func.greatest(registry_copy.c.last_event_at, stmt.excluded.last_event_at),
            "last_applied_at": func.now(),
            "events_applied": registry_copy.c.events_applied + 1,
        }))

    async def state(self) -> dict[str, Any]:
        row = await first(self.session, select(registry_copy).where(registry_copy.c.stream == STREAM))
        counts = (await self.session.execute(select(
            select(func.count()).select_from(registry_person).where(registry_person.c.version > 0).scalar_subquery(),
            select(func.count()).select_from(worker).where(worker.c.registry_link_status == "pending")
            .scalar_subquery(),
        ))).one()
        return {
            "last_event_at": row["last_event_at"] if row else None,
            "last_applied_at": row["last_applied_at"] if row else None,
            "events_applied": row["events_applied"] if row else 0,
            "persons": counts[0], "pending_links": counts[1],
        }

    async def last_event_at(self) -> datetime | None:
        return await self.session.scalar(select(registry_copy.c.last_event_at)
                                         .where(registry_copy.c.stream == STREAM))
