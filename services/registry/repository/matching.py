"""SQL of the matcher: candidate records for one person (blocking in SQL) and stored models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, select, true, union
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within
from kernel.queries import raw_connection
from services.registry.models import duplicate_candidate, identifier, match_model, membership, person, person_name_token
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
        # The household the person lives in now (at most one live membership: uq_membership_one_live).
        stmt = (select(*columns, membership.c.household_id)
                .outerjoin(membership, (membership.c.person_id == person.c.id) & membership.c.ended_on.is_(None))
                .where(person.c.status == "active").order_by(person.c.id))
        result = await self.session.stream(stmt)
        async for part in result.mappings().partitions(chunk):
            yield list(part)

    async def live_identifiers(self, ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        stmt = select(identifier.c.person_id, identifier.c.id_type, identifier.c.form, identifier.c.lookup_hash).where(
            identifier.c.person_id.in_(list(ids)), identifier.c.ended_at.is_(None))
        return list(await all_rows(self.session, stmt))

    async def households(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """The household each of ``ids`` lives in now (persons without a live membership left out)."""
        stmt = select(membership.c.person_id, membership.c.household_id).where(
            membership.c.person_id.in_(list(ids)), membership.c.ended_on.is_(None))
        return {r[0]: r[1] for r in (await self.session.execute(stmt)).all()}

    async def persons(self, ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        return list(await all_rows(self.session, select(person).where(person.c.id.in_(list(ids)))))

    async def latest_model(self) -> RowMapping | None:
        stmt = select(match_model).order_by(match_model.c.created_at.desc(), match_model.c.id.desc()).limit(1)
        return (await self.session.execute(stmt)).mappings().first()

    async def latest_model_id(self) -> uuid.UUID | None:
        stmt = select(match_model.c.id).order_by(match_model.c.created_at.desc(), match_model.c.id.desc()).limit(1)
        found: uuid.UUID | None = await self.session.scalar(stmt)
        return found

    async def model(self, model_id: uuid.UUID) -> RowMapping:
        return (await self.session.execute(select(match_model).where(match_model.c.id == model_id))).mappings().one()

    async def lock_models(self) -> None:
        """One writer of model versions at a time (transaction-level advisory lock)."""
        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext("registry.match_model"))))

    async def max_version(self) -> int:
        version = func.coalesce(func.max(match_model.c.model["version"].as_integer()), 0)
        return int(await self.session.scalar(select(version)) or 0)

    async def decisions(self) -> list[RowMapping]:
        """Reviewers' decisions on queued pairs, with the pair's details; pairs closed because one of
        them was merged away in another decision ("merged into ...") were not judged, and are left out."""
        stmt = select(duplicate_candidate.c.status, duplicate_candidate.c.details).where(
            duplicate_candidate.c.status.in_(["merged", "dismissed"]),
            ~(duplicate_candidate.c.status == "dismissed")
            | ~func.coalesce(duplicate_candidate.c.decision_note, "").startswith("merged into "),
        )
        return list(await all_rows(self.session, stmt))

    async def save_model(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(match_model).values(**values))


# The matcher's view of an import: who lives in the unions the import touched, and who shares an
# identifier or a phone with the import's persons there (wherever they live).
_IMPORT_UNIONS = """
SELECT DISTINCT regexp_replace(area_code, '-[^-]*$', '') AS area FROM registry.person
WHERE id BETWEEN $1 AND $2 AND import_id = $3 AND status = 'active' ORDER BY 1
"""
_NEAR_IMPORT = """
WITH imported AS (
    SELECT id, phones FROM registry.person
    WHERE id BETWEEN $1 AND $2 AND import_id = $3 AND status = 'active'
      AND area_code >= $4 || '-' AND area_code < $4 || '.'
), ids AS (
    SELECT p.id FROM registry.person p
    WHERE p.status = 'active' AND p.area_code >= $4 || '-' AND p.area_code < $4 || '.'
    UNION
    SELECT o.person_id FROM imported i
    JOIN registry.identifier n ON n.person_id = i.id AND n.ended_at IS NULL
    JOIN registry.identifier o ON o.id_type = n.id_type AND o.lookup_hash = n.lookup_hash AND o.ended_at IS NULL
    UNION
    -- A hash join over every person's phones, not the GIN index: right after a bulk COPY the index's
    -- pending list holds the new entries, and each probe reads all of it (1.8 ms a phone at 20,000).
    SELECT p.id FROM registry.person p CROSS JOIN LATERAL unnest(p.phones) AS ph(phone)
    WHERE ph.phone IN (SELECT unnest(phones) FROM imported)
)
SELECT p.id, p.full_name, p.father_name, p.sex, p.birth_date, p.birth_date_estimated, p.birth_year, p.area_code,
       p.phones, p.import_id, m.household_id
FROM registry.person p JOIN ids USING (id)
LEFT JOIN registry.membership m ON m.person_id = p.id AND m.ended_on IS NULL
WHERE p.status = 'active' ORDER BY p.id
"""
_KNOWN_PAIRS = """
SELECT d.person_a, d.person_b FROM registry.duplicate_candidate d
JOIN unnest($1::uuid[], $2::uuid[]) AS q(a, b) ON d.person_a = q.a AND d.person_b = q.b
"""
_INSERT_MATCHES = """
INSERT INTO registry.duplicate_candidate (person_a, person_b, reason, details, area_code)
SELECT q.a, q.b, 'probable_match', q.details, registry.import_common_area(pa.area_code, pb.area_code)
FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS q(a, b, details)
JOIN registry.person pa ON pa.id = q.a JOIN registry.person pb ON pb.id = q.b
ON CONFLICT DO NOTHING
RETURNING id, person_a, person_b, area_code
"""


class ImportMatchingRepository:
    """Set-based SQL for flagging an import's duplicates with the matcher (asyncpg: one round trip each)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def long_pass(self) -> None:
        """The pass is one transaction that computes in Python between its statements (a union of a
        million people: minutes): neither the role's statement timeout nor the 60 s idle-in-transaction
        guard may end it; a stuck pass is still ended after 15 minutes idle."""
        # Through the session, not the raw connection: the session's BEGIN is sent with its first
        # statement, and a SET LOCAL before it (raw, outside any transaction) changes nothing.
        await self.session.execute(select(func.set_config("statement_timeout", "0", True),
                                          func.set_config("idle_in_transaction_session_timeout", "15min", True)))

    async def unions(self, job_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID) -> list[str]:
        conn = await raw_connection(self.session)
        return [r["area"] for r in await conn.fetch(_IMPORT_UNIONS, first, last, job_id)]

    async def near(self, job_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID, union: str) -> list[Any]:
        conn = await raw_connection(self.session)
        return list(await conn.fetch(_NEAR_IMPORT, first, last, job_id, union))

    async def identifiers(self, ids: Sequence[uuid.UUID]) -> list[Any]:
        conn = await raw_connection(self.session)
        return list(await conn.fetch(
            "SELECT person_id, id_type, form, lookup_hash FROM registry.identifier "
            "WHERE person_id = ANY($1::uuid[]) AND ended_at IS NULL", list(ids)))

    async def known(self, a: Sequence[uuid.UUID], b: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, uuid.UUID]]:
        """Pairs already in the queue (under any reason or decision: dismissed pairs never return)."""
        conn = await raw_connection(self.session)
        return {(r["person_a"], r["person_b"]) for r in await conn.fetch(_KNOWN_PAIRS, list(a), list(b))}

    async def insert(self, a: Sequence[uuid.UUID], b: Sequence[uuid.UUID], details: Sequence[str]) -> list[Any]:
        conn = await raw_connection(self.session)
        return list(await conn.fetch(_INSERT_MATCHES, list(a), list(b), list(details)))

    async def add_flagged(self, job_id: uuid.UUID, flagged: int) -> None:
        conn = await raw_connection(self.session)
        await conn.execute("UPDATE registry.import_job SET duplicates_flagged = duplicates_flagged + $2 WHERE id = $1",
                           job_id, flagged)
