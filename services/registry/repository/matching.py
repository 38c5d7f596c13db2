"""SQL of the matcher: candidate records for one person (blocking in SQL) and stored models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, select, true, union
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within
from services.registry.models import identifier, match_model, person, person_name_token
from services.registry.repository.common import all_rows

CANDIDATES = 200  # per check: more would only be namesakes of a very common name


class MatchingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sharing_identifier(self, row: Mapping[str, Any], hashes: Sequence[str]) -> list[uuid.UUID]:
        """Active persons holding one of the identifier hashes or one of the phones of ``row``."""
        parts = []
        if hashes:
            parts.append(select(identifier.c.person_id.label("id")).where(
                identifier.c.lookup_hash.in_(list(hashes)), identifier.c.ended_at.is_(None)))
        if row["phones"]:
            parts.append(select(person.c.id).where(person.c.phones.overlap(list(row["phones"]))))
        if not parts:
            return []
        found = union(*parts).subquery()
        return await self._active(select(found.c.id), row["id"], CANDIDATES)

    async def sharing_name(self, row: Mapping[str, Any], tokens: Sequence[str], near: str) -> list[uuid.UUID]:
        """Active persons of a compatible sex inside the area ``near`` holding two of the name tokens
        (one for a one-part name), most shared tokens first.  The tokens are phonetic keys, the same
        for রোকেয়া and Rokeya."""
        unique = sorted(set(tokens))
        if not unique:
            return []
        shared = func.count().label("shared")
        stmt = (
            select(person_name_token.c.person_id, shared)
            .join(person, person.c.id == person_name_token.c.person_id)
            .where(
                person_name_token.c.token.in_(unique),
                within(person_name_token.c.area_code, near),
                person.c.status == "active",
                person.c.id != row["id"],
                person.c.sex.in_(sorted({row["sex"], "unknown"})) if row["sex"] != "unknown" else true(),
            )
            .group_by(person_name_token.c.person_id)
            .having(func.count() >= min(2, len(unique)))
            .order_by(shared.desc(), person_name_token.c.person_id)
            .limit(CANDIDATES)
        )
        return [r[0] for r in (await self.session.execute(stmt)).all()]

    async def _active(self, ids: Any, exclude: uuid.UUID, limit: int) -> list[uuid.UUID]:
        stmt = (
            select(person.c.id)
            .where(person.c.id.in_(ids), person.c.id != exclude, person.c.status == "active")
            .order_by(person.c.id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def active_persons(self, chunk: int = 20_000) -> AsyncIterator[list[RowMapping]]:
        """Every active person with the columns the matcher reads, in id order, ``chunk`` at a time."""
        columns = [person.c[c] for c in ("id", "full_name", "father_name", "sex", "birth_date",
                                         "birth_date_estimated", "birth_year", "area_code", "phones")]
        result = await self.session.stream(select(*columns).where(person.c.status == "active").order_by(person.c.id))
        async for part in result.mappings().partitions(chunk):
            yield list(part)

    async def live_identifiers(self, ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        stmt = select(identifier.c.person_id, identifier.c.id_type, identifier.c.form, identifier.c.lookup_hash).where(
            identifier.c.person_id.in_(list(ids)), identifier.c.ended_at.is_(None))
        return list(await all_rows(self.session, stmt))

    async def persons(self, ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        return list(await all_rows(self.session, select(person).where(person.c.id.in_(list(ids)))))

    async def latest_model(self) -> RowMapping | None:
        stmt = select(match_model).order_by(match_model.c.created_at.desc(), match_model.c.id.desc()).limit(1)
        return (await self.session.execute(stmt)).mappings().first()

    async def save_model(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(match_model).values(**values))
