"""SQL for the DCI API: senders, transactions, subscriptions, and the person/household searches."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Select, Text, cast, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from kernel.paging import paged
from services.registry.models import household, identifier, membership, person
from services.registry.models.dci import dci_sender, dci_subscription, dci_transaction
from services.registry.repository.common import all_rows, one_or_none

SORTABLE = {
    "birth_date": person.c.birth_date, "dob": person.c.birth_date, "name": person.c.name_key,
    "registration_date": person.c.created_at, "last_updated": person.c.updated_at, "area_code": person.c.area_code,
}


class DciRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---------------------------------------------------------------- senders
    async def upsert_sender(self, values: dict[str, Any]) -> RowMapping:
        base = pg_insert(dci_sender).values(**values)
        changed = {k: base.excluded[k] for k in values if k not in ("sender_id", "created_by")}
        stmt = base.on_conflict_do_update(
            index_elements=[dci_sender.c.sender_id], set_={**changed, "updated_at": func.now()}
        ).returning(dci_sender)
        row = await one_or_none(self.session, stmt)
        assert row is not None
        return row

    async def sender(self, sender_id: str) -> RowMapping | None:
        return await one_or_none(self.session, select(dci_sender).where(dci_sender.c.sender_id == sender_id))

    # ---------------------------------------------------------------- transactions
    async def add_transaction(self, values: dict[str, Any]) -> RowMapping | None:
        """Insert; None when this sender already sent this message_id (a resend)."""
        stmt = (
            pg_insert(dci_transaction).values(**values)
            .on_conflict_do_nothing(index_elements=[dci_transaction.c.sender_id, dci_transaction.c.message_id])
            .returning(dci_transaction)
        )
        return await one_or_none(self.session, stmt)

    async def transaction_by_message(self, sender_id: str, message_id: str) -> RowMapping | None:
        stmt = select(dci_transaction).where(
            dci_transaction.c.sender_id == sender_id, dci_transaction.c.message_id == message_id
        )
        return await one_or_none(self.session, stmt)

    async def transaction(self, correlation_id: str, *, lock: bool = False) -> RowMapping | None:
        stmt = select(dci_transaction).where(dci_transaction.c.correlation_id == correlation_id)
        return await one_or_none(self.session, stmt.with_for_update() if lock else stmt)

    async def finish_transaction(self, correlation_id: str, status: str, results: list[dict[str, Any]]) -> None:
        await self.session.execute(
            update(dci_transaction).where(dci_transaction.c.correlation_id == correlation_id).values(
                status=status, results=results, request_encrypted=None, completed_at=func.now()
            )
        )

    async def find_transactions(self, sender_id: str, action: str, *, attribute: str, value: Any) -> list[RowMapping]:
        """The sender's own transactions (never another sender's) by transaction, correlation or reference ids."""
        stmt = select(dci_transaction).where(dci_transaction.c.sender_id == sender_id,
                                             dci_transaction.c.action == action)
        if attribute == "transaction_id":
            stmt = stmt.where(dci_transaction.c.transaction_id == value)
        elif attribute == "correlation_id":
            stmt = stmt.where(dci_transaction.c.correlation_id == value)
        else:
            path: Any = literal_column("'$[*].reference_id'::jsonpath")
            refs = func.jsonb_path_query_array(dci_transaction.c.results, path)
            stmt = stmt.where(refs.op("?|")(cast(list(value), ARRAY(Text))))
        return list(await all_rows(self.session, stmt.order_by(dci_transaction.c.created_at).limit(100)))

    # ---------------------------------------------------------------- subscriptions
    async def add_subscription(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(dci_subscription).values(**values))

    async def subscriptions(self, codes: Sequence[str], sender_id: str, *, lock: bool = False) -> list[RowMapping]:
        stmt = select(dci_subscription).where(dci_subscription.c.code.in_(list(codes)),
                                              dci_subscription.c.sender_id == sender_id)
        return list(await all_rows(self.session, stmt.with_for_update() if lock else stmt))

    async def unsubscribe(self, codes: Sequence[str]) -> None:
        await self.session.execute(
            update(dci_subscription).where(dci_subscription.c.code.in_(list(codes)))
            .values(status="unsubscribe", unsubscribed_at=func.now())
        )

    async def live_subscriptions(self, reg_event_type: str) -> list[RowMapping]:
        stmt = select(dci_subscription).where(dci_subscription.c.status == "subscribe",
                                              dci_subscription.c.reg_event_type == reg_event_type)
        return list(await all_rows(self.session, stmt))

    async def subscription(self, code: str) -> RowMapping | None:
        return await one_or_none(self.session, select(dci_subscription).where(dci_subscription.c.code == code))

    # ---------------------------------------------------------------- searches
    @staticmethod
    def _matching(scopes: Sequence[str], condition: ColumnElement[bool]) -> Select[Any]:
        return (
            select(person, membership.c.household_id, membership.c.role)
            .outerjoin(membership, (membership.c.person_id == person.c.id) & membership.c.ended_on.is_(None))
            .where(within_any(person.c.area_code, list(scopes)), person.c.status != "merged", condition)
        )

    async def search_persons(
        self, scopes: Sequence[str], condition: ColumnElement[bool], *, order: list[Any], limit: int, offset: int
    ) -> tuple[list[RowMapping], int]:
        stmt = self._matching(scopes, condition)
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = await all_rows(self.session, paged(stmt.order_by(*order, person.c.id), limit=limit, offset=offset))
        return list(rows), int(total or 0)

    async def search_households(
        self, scopes: Sequence[str], condition: ColumnElement[bool], *, limit: int, offset: int
    ) -> tuple[list[RowMapping], int]:
        """Households with at least one matching member inside the scope."""
        ids = self._matching(scopes, condition).where(membership.c.household_id.is_not(None)).with_only_columns(
            membership.c.household_id
        )
        stmt = select(household).where(household.c.id.in_(ids), within_any(household.c.area_code, list(scopes)))
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = await all_rows(self.session, paged(stmt.order_by(household.c.created_at, household.c.id),
                                                  limit=limit, offset=offset))
        return list(rows), int(total or 0)

    async def members(self, household_ids: Sequence[uuid.UUID], scopes: Sequence[str]) -> list[RowMapping]:
        if not household_ids:
            return []
        stmt = (
            select(person, membership.c.household_id, membership.c.role)
            .join(membership, (membership.c.person_id == person.c.id) & membership.c.ended_on.is_(None))
            .where(membership.c.household_id.in_(list(household_ids)), within_any(person.c.area_code, list(scopes)))
            .order_by(membership.c.household_id, membership.c.role != "head", person.c.created_at)
        )
        return list(await all_rows(self.session, stmt))

    async def households(self, household_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
        if not household_ids:
            return {}
        rows = await all_rows(self.session, select(household).where(household.c.id.in_(list(household_ids))))
        return {row["id"]: row for row in rows}

    async def identifiers(self, person_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        if not person_ids:
            return []
        stmt = select(identifier).where(identifier.c.person_id.in_(list(person_ids)), identifier.c.ended_at.is_(None))
        return list(await all_rows(self.session, stmt.order_by(identifier.c.id_type)))

    async def person_in_scope(
        self, person_id: uuid.UUID, scopes: Sequence[str], condition: ColumnElement[bool]
    ) -> RowMapping | None:
        return await one_or_none(self.session, self._matching(scopes, condition).where(person.c.id == person_id))
