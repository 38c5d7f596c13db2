"""Call-centre calls that ended without a booking."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.marketplace.models import call


class CallRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, values: dict[str, Any]) -> RowMapping:
        return (await self.session.execute(insert(call).values(**values).returning(*call.c))).mappings().one()
