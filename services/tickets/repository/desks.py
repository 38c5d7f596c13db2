"""SQL for desks, agents, calendars, holidays and SLA policies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, insert, literal, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import ancestor_codes, within_any
from services.tickets.models import (
    agent,
    calendar,
    desk,
    holiday,
    routing_generation,
    sla_policy,
    sla_policy_version,
)
from services.tickets.repository.common import all_rows, one_or_none, page


class CalendarRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> RowMapping:
        row = await one_or_none(self.session, insert(calendar).values(**values).returning(calendar))
        assert row is not None
        return row

    async def get(self, calendar_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(calendar).where(calendar.c.id == calendar_id))

    async def by_name(self, name: str) -> RowMapping | None:
        return await one_or_none(self.session, select(calendar).where(calendar.c.name == name))

    async def list_page(self, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        return await page(self.session, select(calendar).order_by(calendar.c.name, calendar.c.id),
                          limit=limit, offset=offset)

    async def add_holiday(self, calendar_id: uuid.UUID, day: date, name: str, kind: str) -> RowMapping:
        stmt = pg_insert(holiday).values(calendar_id=calendar_id, day=day, name=name, kind=kind)
        stmt = stmt.on_conflict_do_update(index_elements=["calendar_id", "day"],
                                          set_={"name": stmt.excluded.name, "kind": stmt.excluded.kind})
        row = await one_or_none(self.session, stmt.returning(holiday))
        await self.session.execute(
            update(calendar).where(calendar.c.id == calendar_id).values(version=calendar.c.version + 1))
        assert row is not None
        return row

    async def remove_holiday(self, calendar_id: uuid.UUID, day: date) -> RowMapping | None:
        row = await one_or_none(self.session, delete(holiday).where(
            holiday.c.calendar_id == calendar_id, holiday.c.day == day).returning(holiday))
        if row is not None:
            await self.bump(calendar_id, {})
        return row

    async def bump(self, calendar_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        """Change the calendar (hours, zone, off-Saturdays, parent) and count a new version."""
        row = await one_or_none(self.session, update(calendar).where(calendar.c.id == calendar_id).values(
            **values, version=calendar.c.version + 1).returning(calendar))
        assert row is not None
        return row

    async def with_children(self, calendar_id: uuid.UUID) -> list[uuid.UUID]:
        """The calendar and those that take its holidays (a state calendar under the national one)."""
        rows = await all_rows(self.session, select(calendar.c.id).where(
            or_(calendar.c.id == calendar_id, calendar.c.parent_id == calendar_id)).order_by(calendar.c.id))
        return [r["id"] for r in rows]

    async def holidays(self, calendar_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        stmt = (select(holiday).where(holiday.c.calendar_id.in_(list(calendar_ids)))
                .order_by(holiday.c.day, holiday.c.calendar_id))
        return list(await all_rows(self.session, stmt))

    async def holidays_page(self, calendar_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(holiday).where(holiday.c.calendar_id == calendar_id).order_by(holiday.c.day)
        return await page(self.session, stmt, limit=limit, offset=offset)


class DeskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> RowMapping:
        row = await one_or_none(self.session, insert(desk).values(**values).returning(desk))
        assert row is not None
        return row

    async def get(self, desk_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(desk).where(desk.c.id == desk_id))

    async def on_path_with_terms(self, area_code: str, category: str) -> list[RowMapping]:
        """:meth:`on_path`, each desk with what a new ticket of ``category`` needs from it, in one round trip:
        its calendar's version and its parent calendar's (to reuse a cached calendar), and the SLA policy of
        its level for the category (its own, else ``*``; ``policy_*`` NULL when there is none); and the routing
        generation they were read at (the same on every row)."""
        codes = [*ancestor_codes([area_code]), area_code]
        result = await self.session.execute(_PATH_WITH_TERMS, {"codes": codes, "category": category})
        return list(result.mappings().all())

    async def list_page(self, scopes: Sequence[str], *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        """Desks inside the caller's scope or above it (a block agent knows where tickets escalate to)."""
        visible = or_(within_any(desk.c.area_code, list(scopes)), desk.c.area_code.in_(ancestor_codes(list(scopes))))
        stmt = select(desk).where(visible).order_by(desk.c.area_code, desk.c.name, desk.c.id)
        return await page(self.session, stmt, limit=limit, offset=offset)

    async def by_name(self, name: str, area_code: str) -> RowMapping | None:
        return await one_or_none(self.session, select(desk).where(desk.c.name == name, desk.c.area_code == area_code))

    async def update(self, desk_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        row = await one_or_none(self.session, update(desk).where(desk.c.id == desk_id).values(**values).returning(desk))
        assert row is not None
        return row


class AgentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, desk_id: uuid.UUID, subject: str, display_name: str) -> RowMapping:
        stmt = pg_insert(agent).values(desk_id=desk_id, subject=subject, display_name=display_name)
        stmt = stmt.on_conflict_do_update(index_elements=["desk_id", "subject"],
                                          set_={"display_name": stmt.excluded.display_name, "active": True})
        row = await one_or_none(self.session, stmt.returning(agent))
        assert row is not None
        return row

    async def active(self, desk_id: uuid.UUID, subject: str) -> RowMapping | None:
        stmt = select(agent).where(agent.c.desk_id == desk_id, agent.c.subject == subject, agent.c.active)
        return await one_or_none(self.session, stmt)

    async def list_page(self, desk_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(agent).where(agent.c.desk_id == desk_id).order_by(agent.c.subject, agent.c.id)
        return await page(self.session, stmt, limit=limit, offset=offset)


class SlaPolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, values: dict[str, Any], *, at: Any, by: str) -> tuple[RowMapping, bool]:
        """Set a level and category's targets: a new version of its policy, the old ones kept.  Returns the
        policy and whether anything changed (the same targets again make no new version)."""
        stmt = pg_insert(sla_policy).values(**values, updated_at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["level", "category"],
            set_={"first_response_minutes": stmt.excluded.first_response_minutes,
                  "resolution_minutes": stmt.excluded.resolution_minutes, "updated_at": at,
                  "version": sla_policy.c.version + 1},
            where=or_(sla_policy.c.first_response_minutes != stmt.excluded.first_response_minutes,
                      sla_policy.c.resolution_minutes != stmt.excluded.resolution_minutes))
        row = await one_or_none(self.session, stmt.returning(sla_policy))
        if row is None:
            same = await one_or_none(self.session, select(sla_policy).where(
                sla_policy.c.level == values["level"], sla_policy.c.category == values["category"]))
            assert same is not None
            return same, False
        await self.session.execute(insert(sla_policy_version).values(
            policy_id=row["id"], version=row["version"], level=row["level"], category=row["category"],
            first_response_minutes=row["first_response_minutes"], resolution_minutes=row["resolution_minutes"],
            changed_at=at, changed_by=by))
        return row, True

    async def versions(self, policy_id: uuid.UUID) -> list[RowMapping]:
        stmt = (select(sla_policy_version).where(sla_policy_version.c.policy_id == policy_id)
                .order_by(sla_policy_version.c.version))
        return list(await all_rows(self.session, stmt))

    async def get(self, policy_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(sla_policy).where(sla_policy.c.id == policy_id))

    async def own_categories(self, level: str) -> list[str]:
        """Categories with a policy of their own at this level (the ``*`` policy does not cover them)."""
        rows = await all_rows(self.session, select(sla_policy.c.category).where(
            sla_policy.c.level == level, sla_policy.c.category != "*").order_by(sla_policy.c.category))
        return [r["category"] for r in rows]

    async def for_level(self, level: str, category: str) -> RowMapping | None:
        """The category's own policy at this level, else the level's ``*`` policy."""
        stmt = (select(sla_policy).where(sla_policy.c.level == level, sla_policy.c.category.in_([category, "*"]))
                .order_by((sla_policy.c.category == "*").asc()).limit(1))
        return await one_or_none(self.session, stmt)

    async def list_page(self, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(sla_policy).order_by(sla_policy.c.level, sla_policy.c.category, sla_policy.c.id)
        return await page(self.session, stmt, limit=limit, offset=offset)


def _path_with_terms() -> Select[Any]:
    """Built once (a statement with aliases and a lateral builds dozens of objects; its bound form is cached)."""
    own, parent = calendar.alias("own"), calendar.alias("parent")
    policy = (select(sla_policy.c.id, sla_policy.c.version, sla_policy.c.first_response_minutes,
                     sla_policy.c.resolution_minutes)
              .where(sla_policy.c.level == desk.c.level,
                     sla_policy.c.category.in_([bindparam("category"), literal("*")]))
              .order_by((sla_policy.c.category == "*").asc()).limit(1).lateral("policy"))
    generation = func.coalesce(select(routing_generation.c.n).where(routing_generation.c.id == 1)
                               .scalar_subquery(), 0)
    return (select(desk, own.c.version.label("calendar_version"), parent.c.version.label("parent_version"),
                   policy.c.id.label("policy_id"), policy.c.version.label("policy_version"),
                   policy.c.first_response_minutes.label("policy_first_response_minutes"),
                   policy.c.resolution_minutes.label("policy_resolution_minutes"),
                   generation.label("routing_generation"))
            .select_from(desk.join(own, own.c.id == desk.c.calendar_id)
                         .outerjoin(parent, parent.c.id == own.c.parent_id).outerjoin(policy, true()))
            .where(desk.c.area_code.in_(bindparam("codes", expanding=True)), desk.c.active)
            .order_by(desk.c.area_code, desk.c.id))


_PATH_WITH_TERMS = _path_with_terms()
