"""All registry SQL."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kernel.areas import ancestor_codes, within_any
from kernel.paging import paged
from services.registry.models import Area


class AreaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, code: str) -> Area | None:
        return await self.session.get(Area, code)

    async def add(self, area: Area) -> Area:
        self.session.add(area)
        await self.session.flush()
        await self.session.refresh(area)
        return area

    async def add_if_absent(self, area: Area) -> Area | None:
        """Insert ``area`` unless its code exists (also when a concurrent transaction just inserted
        it); the new row, or None."""
        values = area.model_dump(include={"code", "parent_code", "level", "name", "name_local"})
        stmt = insert(Area).values(**values).on_conflict_do_nothing(index_elements=["code"]).returning(Area)
        return (await self.session.scalars(stmt)).first()

    async def children(
        self, parent_code: str | None, scopes: list[str], *, limit: int, offset: int
    ) -> tuple[list[Area], int]:
        # Visible children: inside the caller's scope, or on the path down to it.
        visible = or_(within_any(Area.code, scopes), Area.code.in_(ancestor_codes(scopes)))  # type: ignore[attr-defined]
        query = select(Area).where(col(Area.parent_code) == parent_code, visible)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(paged(query.order_by(Area.code), limit=limit, offset=offset))
        return list(rows), int(total or 0)

    async def in_scope(self, scopes: list[str], *, limit: int, offset: int) -> tuple[list[Area], int]:
        query = select(Area).where(within_any(Area.code, scopes))
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(paged(query.order_by(Area.code), limit=limit, offset=offset))
        return list(rows), int(total or 0)
