"""Aggregates for the transparency reports, consents and a person's own history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, cast, func, insert, literal_column, or_, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within
from kernel.paging import paged
from services.benefits.models import consent, entry, entry_match
from services.benefits.repository.common import all_rows, held_for, one_or_none


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def summary(self, *, area: str, period: str | None, scheme_code: str | None) -> list[RowMapping]:
        """Per child area of ``area``, scheme and period: distinct beneficiaries of live grants, net amount and
        quantity (grants less reversals and recoveries), entries."""
        depth = int(area.count("-") + 2)  # the child level's number of code parts (an int: safe to inline)
        parts = "string_to_array(benefits.entry.area_code, '-')"
        child: Any = literal_column(f"array_to_string(({parts})[1:{depth}], '-')")
        undone = entry.alias("undone")
        live_grant = and_(entry.c.kind == "grant",
                          ~select(undone.c.id).where(undone.c.reverses_id == entry.c.id).exists())
        # A beneficiary: the person (as posted, or matched later), the household, or for an entry held for
        # a person the registry has not sent yet, the identifier it was posted against.
        who = func.coalesce(cast(entry.c.person_id, Text), cast(entry_match.c.person_id, Text),
                            cast(entry.c.household_id, Text), entry.c.identifier_hash)
        stmt = (
            select(child.label("area_code"), entry.c.scheme_code, entry.c.period, entry.c.currency, entry.c.unit,
                   func.count(func.distinct(who)).filter(live_grant).label("beneficiaries"),
                   func.coalesce(func.sum(entry.c.amount_minor), 0).label("amount_minor"),
                   func.coalesce(func.sum(entry.c.quantity), 0).label("quantity"),
                   func.count().filter(entry.c.kind == "grant").label("entries"))
            .select_from(entry.outerjoin(entry_match, entry_match.c.entry_id == entry.c.id))
            .where(or_(entry.c.area_code == area, within(entry.c.area_code, area)))
            .group_by(text("1"), entry.c.scheme_code, entry.c.period, entry.c.currency, entry.c.unit)
            .order_by(text("1"), entry.c.scheme_code, entry.c.period)
        )
        if period:
            stmt = stmt.where(entry.c.period == period)
        if scheme_code:
            stmt = stmt.where(entry.c.scheme_code == scheme_code)
        return list(await all_rows(self.session, stmt))

    async def add_consent(self, values: dict[str, Any]) -> RowMapping:
        return (await self.session.execute(insert(consent).values(**values).returning(consent))).mappings().one()

    async def consent(self, consent_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(consent).where(consent.c.id == consent_id))

    async def history(self, person_ids: Sequence[uuid.UUID], *, limit: int, offset: int
                      ) -> tuple[list[RowMapping], int]:
        base = select(entry).where(held_for(list(person_ids)))
        total = await self.session.scalar(select(func.count()).select_from(base.subquery()))
        rows = await all_rows(self.session, paged(base.order_by(entry.c.recorded_at, entry.c.id),
                                                  limit=limit, offset=offset))
        return list(rows), int(total or 0)

    async def revoke_consent(self, consent_id: uuid.UUID, at: datetime) -> RowMapping:
        stmt = (update(consent).where(consent.c.id == consent_id, consent.c.revoked_at.is_(None))
                .values(revoked_at=at).returning(consent))
        return (await self.session.execute(stmt)).mappings().one()
