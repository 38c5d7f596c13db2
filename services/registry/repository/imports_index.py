"""SQL of the import search-index job: name tokens and duplicate flags for one batch of persons.

A batch is an inclusive range of person ids (``first``..``last``): the persons of an import have
time-ordered ids, so the job walks them through the primary key.  Every statement is idempotent
(tokens only for persons that have none, flags ``ON CONFLICT DO NOTHING``), so a batch that runs
twice, or a person in the range that came from elsewhere, changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.queries import raw_connection
from services.registry.models.imports import import_job

# Persons of the batch without tokens yet (an edit since the import already wrote its own).
_UNTOKENISED = """
SELECT p.id, p.full_name, p.name_latin FROM registry.person p
WHERE p.id BETWEEN $1 AND $2
  AND NOT EXISTS (SELECT 1 FROM registry.person_name_token t WHERE t.person_id = p.id)
"""

_INSERT_TOKENS = """
INSERT INTO registry.person_name_token (person_id, token, area_code)
SELECT t.person_id, t.token, p.area_code
FROM unnest($1::uuid[], $2::text[]) AS t(person_id, token)
JOIN registry.person p ON p.id = t.person_id
ON CONFLICT DO NOTHING
"""

_FLAG_SAME_IDENTIFIER = """
INSERT INTO registry.duplicate_candidate (person_a, person_b, reason, details, area_code)
SELECT DISTINCT least(n.person_id, o.person_id), greatest(n.person_id, o.person_id), 'same_identifier',
       jsonb_build_object('id_type', n.id_type)
       -- two 17-digit NIDs with one 13-digit form but other year prefixes: a conflict to resolve, not a match
       || CASE WHEN n.form = 'nid17' AND o.form = 'nid17' AND n.birth_year <> o.birth_year
               THEN jsonb_build_object('conflict', 'nid17_year_prefix', 'year_prefixes',
                                       jsonb_build_array(least(n.birth_year, o.birth_year),
                                                         greatest(n.birth_year, o.birth_year)))
               ELSE '{}'::jsonb END,
       registry.import_common_area(np.area_code, op.area_code)
FROM registry.identifier n
JOIN registry.person np ON np.id = n.person_id AND np.status <> 'merged'
JOIN registry.identifier o ON o.id_type = n.id_type AND o.lookup_hash = n.lookup_hash AND o.ended_at IS NULL
     AND o.person_id <> n.person_id
JOIN registry.person op ON op.id = o.person_id AND op.status <> 'merged'
WHERE n.person_id BETWEEN $1 AND $2 AND n.ended_at IS NULL
ON CONFLICT DO NOTHING
"""

_FLAG_SAME_NAME_PARENTS = """
INSERT INTO registry.duplicate_candidate (person_a, person_b, reason, details, area_code)
SELECT DISTINCT least(n.id, o.id), greatest(n.id, o.id), 'same_name_parents_birth_year',
       jsonb_build_object('birth_years', jsonb_build_array(least(n.birth_year, o.birth_year),
                                                           greatest(n.birth_year, o.birth_year)),
                          'name_key', n.name_key),
       registry.import_common_area(n.area_code, o.area_code)
FROM registry.person n
JOIN registry.person o ON o.name_key = n.name_key AND o.birth_year BETWEEN n.birth_year - $3 AND n.birth_year + $3
     AND o.father_key = n.father_key AND o.mother_key = n.mother_key AND o.status = 'active' AND o.id <> n.id
WHERE n.id BETWEEN $1 AND $2 AND n.status = 'active'
  AND n.birth_year IS NOT NULL AND (n.father_key <> '' OR n.mother_key <> '')
ON CONFLICT DO NOTHING
"""


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class ImportIndexRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def plan_for_parameters(self) -> None:
        conn = await raw_connection(self.session)
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")

    async def batch_ids(self, first: uuid.UUID, last: uuid.UUID, limit: int) -> list[uuid.UUID]:
        """Up to ``limit`` person ids from ``first`` on, in id order (the primary key walks them)."""
        conn = await raw_connection(self.session)
        rows = await conn.fetch("SELECT id FROM registry.person WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT $3",
                                first, last, limit)
        return [r["id"] for r in rows]

    async def untokenised(self, first: uuid.UUID, last: uuid.UUID) -> list[asyncpg.Record]:
        conn = await raw_connection(self.session)
        return list(await conn.fetch(_UNTOKENISED, first, last))

    async def insert_tokens(self, person_ids: list[uuid.UUID], tokens: list[str]) -> None:
        if person_ids:
            conn = await raw_connection(self.session)
            await conn.execute(_INSERT_TOKENS, person_ids, tokens)

    async def flag_duplicates(self, first: uuid.UUID, last: uuid.UUID, birth_year_window: int) -> int:
        conn = await raw_connection(self.session)
        flagged = _count(await conn.execute(_FLAG_SAME_IDENTIFIER, first, last))
        return flagged + _count(await conn.execute(_FLAG_SAME_NAME_PARENTS, first, last, birth_year_window))

    async def mark_pending(self, job_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID) -> None:
        await self.session.execute(update(import_job).where(import_job.c.id == job_id).values(
            search_index="pending", index_next=first, index_last=last))

    async def job_cursor(self, job_id: uuid.UUID) -> Any:
        conn = await raw_connection(self.session)
        return await conn.fetchrow(
            "SELECT search_index, index_next, index_last FROM registry.import_job WHERE id = $1 FOR UPDATE", job_id)

    async def advance(self, job_id: uuid.UUID, next_id: uuid.UUID | None, flagged: int) -> None:
        """Move the cursor (None: the index is complete) and add the batch's flags to the job's count."""
        conn = await raw_connection(self.session)
        await conn.execute(
            "UPDATE registry.import_job SET duplicates_flagged = duplicates_flagged + $2, index_next = $3, "
            "search_index = CASE WHEN $3::uuid IS NULL THEN 'done' ELSE search_index END, "
            "search_indexed_at = CASE WHEN $3::uuid IS NULL THEN now() ELSE search_indexed_at END WHERE id = $1",
            job_id, flagged, next_id)
