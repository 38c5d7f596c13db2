"""The local copy of the registry's persons, households, identifier hashes and person links."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.models import household, identifier_hash, person, person_link, replica_state
from services.benefits.repository.common import all_rows, any_of, one_or_none

STREAM = "registry"


class ReplicaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert_person(self, values: dict[str, Any]) -> bool:
        """Insert or update when ``version`` is newer; True if applied.  ``cluster_id`` is kept on update,
        and so is the household when the event names none (household events say who is a member: the
        person's event may have been built before the membership existed, or arrive after the household's)."""
        stmt = pg_insert(person).values(**values, cluster_id=values["id"], synced_at=func.now())
        fields: dict[str, Any] = {k: stmt.excluded[k] for k in values if k != "id"}
        fields["household_id"] = func.coalesce(stmt.excluded.household_id, person.c.household_id)
        upsert = stmt.on_conflict_do_update(
            index_elements=["id"], set_={**fields, "synced_at": func.now()},
            where=person.c.version < stmt.excluded.version,
        ).returning(person.c.id)
        return (await self.session.execute(upsert)).first() is not None

    async def replace_hashes(self, person_id: uuid.UUID, hashes: Sequence[str]) -> None:
        await self.session.execute(delete(identifier_hash).where(identifier_hash.c.person_id == person_id))
        if hashes:
            await self.session.execute(pg_insert(identifier_hash).values(
                [{"hash": h, "person_id": person_id} for h in hashes]).on_conflict_do_nothing())

    async def set_person_status(self, person_id: uuid.UUID, status: str, version: int | None,
                                merged_into: uuid.UUID | None = None, deceased_on: date | None = None) -> None:
        values: dict[str, Any] = {"status": status, "synced_at": func.now()}
        if deceased_on is not None:
            values["deceased_on"] = deceased_on
        if merged_into is not None:
            values["merged_into"] = merged_into
        stmt = update(person).where(person.c.id == person_id)
        if version is not None:
            stmt = stmt.where(person.c.version <= version)
            values["version"] = version
        await self.session.execute(stmt.values(**values))

    async def upsert_household(self, values: dict[str, Any]) -> bool:
        stmt = pg_insert(household).values(**values, synced_at=func.now())
        fields = {k: stmt.excluded[k] for k in values if k != "id"}
        upsert = stmt.on_conflict_do_update(
            index_elements=["id"], set_={**fields, "synced_at": func.now()},
            where=household.c.version < stmt.excluded.version,
        ).returning(household.c.id)
        return (await self.session.execute(upsert)).first() is not None

    async def set_members_household(self, member_ids: Sequence[uuid.UUID], household_id: uuid.UUID,
                                    area: str) -> None:
        """The household's members are exactly ``member_ids``: a member whose own event has not arrived yet
        gets a placeholder (version 0) that keeps the household for it; a person no longer listed leaves."""
        for pid in member_ids:
            await self.ensure_person_stub(pid, area)
        if member_ids:
            await self.session.execute(update(person).where(person.c.id.in_(list(member_ids)))
                                       .values(household_id=household_id))
        await self.session.execute(update(person).where(person.c.household_id == household_id,
                                                        ~person.c.id.in_(list(member_ids) or [household_id]))
                                   .values(household_id=None))

    async def move_household(self, household_id: uuid.UUID, area: str, version: int,
                             member_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(update(household).where(household.c.id == household_id,
                                                           household.c.version < version)
                                   .values(area_code=area, version=version, synced_at=func.now()))
        if member_ids:
            await self.session.execute(update(person).where(person.c.id.in_(list(member_ids)))
                                       .values(area_code=area, synced_at=func.now()))

    async def put_link(self, values: dict[str, Any]) -> None:
        stmt = pg_insert(person_link).values(**values, updated_at=func.now())
        fields = {k: stmt.excluded[k] for k in values if k != "id"} | {"updated_at": func.now()}
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=fields))

    async def ensure_person_stub(self, person_id: uuid.UUID, area: str) -> None:
        """A link can arrive before the person's own event: keep a placeholder the person event fills in."""
        await self.session.execute(pg_insert(person).values(
            id=person_id, area_code=area, full_name="", sex="unknown", status="active", cluster_id=person_id,
            version=0).on_conflict_do_nothing())

    async def linked_component(self, start: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Every person reachable from ``start`` through active links (merges and duplicate links)."""
        seen: set[uuid.UUID] = set(start)
        frontier = set(seen)
        while frontier:
            stmt = select(person_link.c.person_id, person_link.c.other_person_id).where(
                person_link.c.active.is_(True),
                or_(person_link.c.person_id.in_(list(frontier)), person_link.c.other_person_id.in_(list(frontier))),
            )
            found = {x for row in (await self.session.execute(stmt)).all() for x in row}
            frontier = found - seen
            seen |= found
        return seen

    async def set_cluster(self, members: Sequence[uuid.UUID], cluster_id: uuid.UUID) -> list[uuid.UUID]:
        """Point ``members`` at ``cluster_id``; the ids whose cluster changed."""
        stmt = (update(person).where(person.c.id.in_(list(members)), person.c.cluster_id != cluster_id)
                .values(cluster_id=cluster_id).returning(person.c.id))
        return [r[0] for r in (await self.session.execute(stmt)).all()]

    async def persons(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
        if not ids:
            return {}
        rows = await all_rows(self.session, select(person).where(any_of(person.c.id, ids)))
        return {r["id"]: r for r in rows}

    async def person(self, person_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(person).where(person.c.id == person_id))

    async def household(self, household_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(household).where(household.c.id == household_id))

    async def households(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
        if not ids:
            return {}
        rows = await all_rows(self.session, select(household).where(any_of(household.c.id, ids)))
        return {r["id"]: r for r in rows}

    async def cluster_members(self, cluster_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
        if not cluster_ids:
            return {}
        stmt = select(person.c.cluster_id, person.c.id).where(any_of(person.c.cluster_id, cluster_ids))
        out: dict[uuid.UUID, set[uuid.UUID]] = {}
        for cluster, pid in (await self.session.execute(stmt)).all():
            out.setdefault(cluster, set()).add(pid)
        return out

    async def resolve_hashes(self, hashes: Sequence[str]) -> dict[str, list[uuid.UUID]]:
        """Identifier hash -> the persons holding it (active first)."""
        if not hashes:
            return {}
        stmt = (select(identifier_hash.c.hash, person.c.id)
                .join(person, person.c.id == identifier_hash.c.person_id)
                .where(any_of(identifier_hash.c.hash, hashes))
                .order_by(identifier_hash.c.hash, (person.c.status != "active"), person.c.id))
        out: dict[str, list[uuid.UUID]] = {}
        for digest, pid in (await self.session.execute(stmt)).all():
            out.setdefault(digest, []).append(pid)
        return out

    async def links_of(self, person_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        stmt = select(person_link).where(person_link.c.active.is_(True), or_(
            person_link.c.person_id.in_(list(person_ids)), person_link.c.other_person_id.in_(list(person_ids)),
        )).order_by(person_link.c.id)
        return list(await all_rows(self.session, stmt))

    async def household_members(self, household_id: uuid.UUID) -> list[uuid.UUID]:
        stmt = (select(person.c.id).where(person.c.household_id == household_id, person.c.status == "active",
                                          person.c.version > 0).order_by(person.c.id))
        return [r[0] for r in (await self.session.execute(stmt)).all()]

    async def multi_record_clusters(self) -> list[uuid.UUID]:
        stmt = (select(person.c.cluster_id).group_by(person.c.cluster_id).having(func.count() > 1)
                .order_by(person.c.cluster_id))
        return [r[0] for r in (await self.session.execute(stmt)).all()]

    async def household_sizes(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {k: v["member_count"] for k, v in (await self.households(ids)).items()}

    async def touch(self, occurred_at: datetime) -> None:
        stmt = pg_insert(replica_state).values(stream=STREAM, last_event_at=occurred_at, last_applied_at=func.now(),
                                               events_applied=1)
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["stream"], set_={
            "last_event_at": func.greatest(replica_state.c.last_event_at, stmt.excluded.last_event_at),
            "last_applied_at": func.now(),
            "events_applied": replica_state.c.events_applied + 1,
        }))

    async def state(self) -> dict[str, Any]:
        row = await one_or_none(self.session, select(replica_state).where(replica_state.c.stream == STREAM))
        counts = (await self.session.execute(select(
            select(func.count()).select_from(person).scalar_subquery(),
            select(func.count()).select_from(household).scalar_subquery(),
            select(func.count()).select_from(person_link).where(person_link.c.active.is_(True)).scalar_subquery(),
        ))).one()
        return {
            "last_event_at": row["last_event_at"] if row else None,
            "last_applied_at": row["last_applied_at"] if row else None,
            "events_applied": row["events_applied"] if row else 0,
            "persons": counts[0], "households": counts[1], "active_links": counts[2],
        }

    async def last_event_at(self) -> datetime | None:
        return await self.session.scalar(select(replica_state.c.last_event_at).where(replica_state.c.stream == STREAM))
