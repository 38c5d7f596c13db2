"""Person, name-token and identifier SQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within, within_any
from services.registry.models import identifier, membership, person, person_name_token
from services.registry.repository.common import all_rows, one_or_none, page


class PersonRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def visible(scopes: Sequence[str]) -> Select[Any]:
        """Persons inside the caller's area scope, with their live household membership."""
        return (
            select(person, membership.c.household_id, membership.c.role, membership.c.started_on)
            .outerjoin(membership, (membership.c.person_id == person.c.id) & membership.c.ended_on.is_(None))
            .where(within_any(person.c.area_code, list(scopes)))
        )

    async def get(self, person_id: uuid.UUID, scopes: Sequence[str], *, lock: bool = False) -> RowMapping | None:
        stmt = self.visible(scopes).where(person.c.id == person_id)
        return await one_or_none(self.session, stmt.with_for_update(of=person) if lock else stmt)

    async def get_unscoped(self, person_id: uuid.UUID, *, lock: bool = False) -> RowMapping | None:
        stmt = select(person).where(person.c.id == person_id)
        return await one_or_none(self.session, stmt.with_for_update() if lock else stmt)

    async def by_client_ref(self, client_ref: str) -> RowMapping | None:
        return await one_or_none(self.session, select(person).where(person.c.client_ref == client_ref))

    async def insert(self, values: dict[str, Any]) -> RowMapping:
        row = await one_or_none(self.session, insert(person).values(**values).returning(person))
        assert row is not None
        return row

    async def update(self, person_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = update(person).where(person.c.id == person_id).values(**values, updated_at=func.now()).returning(person)
        row = await one_or_none(self.session, stmt)
        assert row is not None
        return row

    async def set_area_for_household(self, household_id: uuid.UUID, area_code: str, actor: str) -> list[uuid.UUID]:
        members = select(membership.c.person_id).where(
            membership.c.household_id == household_id, membership.c.ended_on.is_(None)
        )
        stmt = (
            update(person)
            .where(person.c.id.in_(members))
            .values(area_code=area_code, version=person.c.version + 1, updated_at=func.now(), updated_by=actor)
            .returning(person.c.id)
        )
        ids = list((await self.session.scalars(stmt)).all())
        await self.session.execute(
            update(person_name_token).where(person_name_token.c.person_id.in_(ids)).values(area_code=area_code)
        )
        return ids

    async def replace_tokens(self, person_id: uuid.UUID, tokens: Sequence[str], area_code: str) -> None:
        await self.session.execute(delete(person_name_token).where(person_name_token.c.person_id == person_id))
        unique = sorted(set(tokens))
        if unique:
            await self.session.execute(
                insert(person_name_token),
                [{"person_id": person_id, "token": t, "area_code": area_code} for t in unique],
            )

    async def search(
        self, scopes: Sequence[str], area: str, tokens: Sequence[str], *, limit: int, offset: int
    ) -> tuple[list[RowMapping], int]:
        """Persons whose name holds every query token, inside ``area`` and the caller's scope."""
        unique = sorted(set(tokens))
        matches = (
            select(person_name_token.c.person_id)
            .where(
                person_name_token.c.token.in_(unique),
                within(person_name_token.c.area_code, area),
                within_any(person_name_token.c.area_code, list(scopes)),
            )
            .group_by(person_name_token.c.person_id)
            .having(func.count() == len(unique))
        )
        stmt = self.visible(scopes).where(person.c.id.in_(matches), person.c.status != "merged")
        return await page(self.session, stmt.order_by(person.c.name_key, person.c.id), limit=limit, offset=offset)

    async def same_name_and_parents(self, row: Mapping[Any, Any], years: int) -> list[RowMapping]:
        """Other active persons with the same name key and parents' keys, born within ±``years``."""
        if row["birth_year"] is None or not (row["father_key"] or row["mother_key"]):
            return []
        stmt = select(person).where(
            person.c.name_key == row["name_key"],
            person.c.birth_year.between(row["birth_year"] - years, row["birth_year"] + years),
            person.c.father_key == row["father_key"],
            person.c.mother_key == row["mother_key"],
            person.c.status == "active",
            person.c.id != row["id"],
        )
        return list(await all_rows(self.session, stmt))


class IdentifierRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, values: dict[str, Any]) -> RowMapping:
        row = await one_or_none(self.session, insert(identifier).values(**values).returning(identifier))
        assert row is not None
        return row

    async def get(self, identifier_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(identifier).where(identifier.c.id == identifier_id))

    async def live_of_type(self, person_id: uuid.UUID, id_type: str) -> RowMapping | None:
        stmt = select(identifier).where(
            identifier.c.person_id == person_id, identifier.c.id_type == id_type, identifier.c.ended_at.is_(None)
        )
        return await one_or_none(self.session, stmt)

    async def for_persons(self, person_ids: Sequence[uuid.UUID], *, live_only: bool = True) -> list[RowMapping]:
        if not person_ids:
            return []
        stmt = select(identifier).where(identifier.c.person_id.in_(person_ids))
        if live_only:
            stmt = stmt.where(identifier.c.ended_at.is_(None))
        return list(await all_rows(self.session, stmt.order_by(identifier.c.id_type, identifier.c.started_at)))

    async def holders(self, id_type: str, lookup_hash: str, *, exclude: uuid.UUID | None = None,
                      nid17_year: int | None = None) -> list[uuid.UUID]:
        """Active persons holding this identifier live (any area).  With ``nid17_year`` (the query is a
        17-digit NID), a stored 17-digit form with another year prefix is not the same identifier."""
        stmt = (
            select(identifier.c.person_id)
            .join(person, person.c.id == identifier.c.person_id)
            .where(
                identifier.c.id_type == id_type,
                identifier.c.lookup_hash == lookup_hash,
                identifier.c.ended_at.is_(None),
                person.c.status != "merged",
            )
        )
        if exclude is not None:
            stmt = stmt.where(identifier.c.person_id != exclude)
        if nid17_year is not None:
            stmt = stmt.where(or_(identifier.c.form != "nid17", identifier.c.birth_year == nid17_year))
        return list((await self.session.scalars(stmt)).all())

    async def year_conflicts(self, id_type: str, lookup_hash: str, nid17_year: int) -> list[RowMapping]:
        """Live 17-digit forms with this 13-digit number but another year prefix (person, year, last4)."""
        stmt = select(identifier.c.person_id, identifier.c.birth_year, identifier.c.last4).where(
            identifier.c.id_type == id_type, identifier.c.lookup_hash == lookup_hash,
            identifier.c.ended_at.is_(None), identifier.c.form == "nid17", identifier.c.birth_year != nid17_year,
        )
        return list(await all_rows(self.session, stmt))

    async def end(self, identifier_id: uuid.UUID, reason: str) -> None:
        await self.session.execute(
            update(identifier).where(identifier.c.id == identifier_id).values(ended_at=func.now(), end_reason=reason)
        )

    async def move(self, identifier_id: uuid.UUID, person_id: uuid.UUID) -> None:
        await self.session.execute(
            update(identifier).where(identifier.c.id == identifier_id).values(person_id=person_id)
        )
