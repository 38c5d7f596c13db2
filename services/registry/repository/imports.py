"""Bulk-import SQL: COPY into session-local staging tables, then set-based inserts.

Everything runs on the request's (or job's) own connection and transaction: the staging tables
are ``TEMP ... ON COMMIT DROP``, the real tables are written with ``INSERT ... SELECT ... ON
CONFLICT DO NOTHING`` (the natural keys are the household and person ``client_ref``), and the
outbox events are built from the staged rows in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import asyncpg
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import HouseholdCreated, HouseholdUpdated, PersonRegistered
from kernel.areas import within_any
from kernel.outbox import notify_channel
from services.registry import SERVICE
from services.registry.models.imports import import_error, import_job
from services.registry.repository.common import all_rows, one_or_none

PERSON_STAGE_COLUMNS = (
    "id", "household_id", "membership_id", "event_id",
    "row", "client_ref", "household_ref", "role", "area_code", "address", "address_local", "latitude",
    "longitude", "full_name", "name_latin", "name_key", "sex", "birth_date", "birth_date_estimated",
    "birth_date_source", "birth_year", "father_name", "mother_name", "father_key", "mother_key", "disability",
    "pregnant", "occupation", "phones", "preferred_language", "id_types",
)
IDENTIFIER_STAGE_COLUMNS = (
    "id", "person_id", "id_type", "form", "lookup_hash", "value_encrypted", "last4", "birth_year",
)
ERROR_COLUMNS = ("import_id", "row", "field", "reason")

_STAGING_DDL = """
DROP TABLE IF EXISTS pg_temp.import_person, pg_temp.import_identifier, pg_temp.import_household;
CREATE TEMP TABLE import_person (
    id uuid NOT NULL, household_id uuid NOT NULL, membership_id uuid NOT NULL, event_id uuid NOT NULL,
    row integer NOT NULL, client_ref text NOT NULL, household_ref text NOT NULL,
    role text NOT NULL, area_code varchar(64) COLLATE "C" NOT NULL, address text, address_local text,
    latitude numeric(9, 6), longitude numeric(9, 6), full_name text NOT NULL, name_latin text,
    name_key text NOT NULL, sex text NOT NULL, birth_date date, birth_date_estimated boolean NOT NULL,
    birth_date_source text, birth_year integer, father_name text, mother_name text, father_key text NOT NULL,
    mother_key text NOT NULL, disability text, pregnant boolean NOT NULL, occupation text, phones text[] NOT NULL,
    preferred_language text, id_types text[] NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE import_identifier (
    id uuid NOT NULL, person_id uuid NOT NULL, id_type text NOT NULL, form text NOT NULL, lookup_hash text NOT NULL,
    value_encrypted text NOT NULL, last4 text NOT NULL, birth_year integer
) ON COMMIT DROP;
CREATE TEMP TABLE import_household (id uuid PRIMARY KEY, client_ref text NOT NULL UNIQUE, created boolean NOT NULL)
    ON COMMIT DROP;
"""

# Households of the staged rows that cannot take them, with what is wrong (decided in Python).
_HOUSEHOLD_CHECK = """
SELECT s.household_ref, s.heads, s.areas, s.area_code, h.id IS NOT NULL AS exists, h.area_code AS existing_area,
       h.status AS existing_status,
       EXISTS (SELECT 1 FROM registry.membership m
               WHERE m.household_id = h.id AND m.role = 'head' AND m.ended_on IS NULL) AS has_head
FROM (SELECT household_ref, count(*) FILTER (WHERE role = 'head') AS heads,
             count(DISTINCT area_code) AS areas, min(area_code) AS area_code
      FROM import_person GROUP BY household_ref) s
LEFT JOIN registry.household h ON h.client_ref = s.household_ref
WHERE s.areas > 1
   OR (h.id IS NULL AND s.heads <> 1)
   OR (h.id IS NOT NULL AND (h.area_code <> s.area_code OR h.status <> 'active' OR s.heads > 1 OR (s.heads = 1
       AND EXISTS (SELECT 1 FROM registry.membership m
                   WHERE m.household_id = h.id AND m.role = 'head' AND m.ended_on IS NULL))))
"""

_INSERT_HOUSEHOLDS = """
WITH ins AS (
    INSERT INTO registry.household (id, client_ref, area_code, address, address_local, latitude, longitude,
                                    collected_by, created_by, updated_by)
    SELECT household_id, household_ref, area_code, address, address_local, latitude, longitude, $1, $1, $1
    FROM import_person WHERE role = 'head'
    ON CONFLICT (client_ref) WHERE client_ref IS NOT NULL DO NOTHING
    RETURNING id, client_ref)
INSERT INTO import_household (id, client_ref, created) SELECT id, client_ref, true FROM ins
"""

_EXISTING_HOUSEHOLDS = """
INSERT INTO import_household (id, client_ref, created)
SELECT h.id, h.client_ref, false FROM registry.household h
WHERE h.client_ref IN (SELECT household_ref FROM import_person)
ON CONFLICT DO NOTHING
"""

# Staged persons already registered were dropped before; a conflict here means another import
# landed the same row meanwhile, and the rows that did not land are unstaged (_UNSTAGE_NOT_LANDED).
_INSERT_PERSONS = """
INSERT INTO registry.person (id, client_ref, area_code, full_name, name_latin, name_key, sex, birth_date,
    birth_date_estimated, birth_date_source, birth_year, father_name, mother_name, father_key, mother_key,
    disability, pregnant, occupation, phones, preferred_language, created_by, updated_by)
SELECT id, client_ref, area_code, full_name, name_latin, name_key, sex, birth_date, birth_date_estimated,
    birth_date_source, birth_year, father_name, mother_name, father_key, mother_key, disability, pregnant,
    occupation, phones, preferred_language, $1, $1
FROM import_person
ON CONFLICT (client_ref) WHERE client_ref IS NOT NULL DO NOTHING
"""

_UNSTAGE_NOT_LANDED = """
WITH gone AS (
    DELETE FROM import_person s WHERE NOT EXISTS (SELECT 1 FROM registry.person p WHERE p.id = s.id) RETURNING s.id)
DELETE FROM import_identifier i USING gone WHERE i.person_id = gone.id
"""

# Rows joining a household that already exists (or that another import created meanwhile) take its id.
_REPOINT_TO_EXISTING = """
UPDATE import_person s SET household_id = h.id FROM import_household h
WHERE NOT h.created AND h.client_ref = s.household_ref AND s.household_id <> h.id
"""

_INSERT_MEMBERSHIPS = """
INSERT INTO registry.membership (id, household_id, person_id, role, created_by)
SELECT s.membership_id, s.household_id, s.id, s.role, $1
FROM import_person s
"""

_INSERT_IDENTIFIERS = """
INSERT INTO registry.identifier (id, person_id, id_type, form, lookup_hash, value_encrypted, last4, birth_year,
                                 created_by)
SELECT i.id, i.person_id, i.id_type, i.form, i.lookup_hash, i.value_encrypted, i.last4, i.birth_year, $1
FROM import_identifier i
"""

_HISTORY = """
INSERT INTO registry.change_history (record_type, record_id, version, action, changes, reason, changed_by, request_id)
SELECT 'person', s.id, 1, 'create',
       jsonb_build_object('import', jsonb_build_object('from', NULL, 'to', jsonb_build_object('id', $2::text,
                                                                                          'row', s.row))),
       'bulk import', $1, $3
FROM import_person s
UNION ALL
SELECT 'household', h.id, 1, 'create',
       jsonb_build_object('import', jsonb_build_object('from', NULL, 'to', jsonb_build_object('id', $2::text))),
       'bulk import', $1, $3
FROM import_household h WHERE h.created
"""

# Existing households that gained members: a content edit, so review starts again (surveys.mark_edited).
_TOUCH_EXISTING = """
WITH touched AS (
    SELECT DISTINCT h.id FROM import_household h
    JOIN import_person s ON s.household_ref = h.client_ref
    WHERE NOT h.created),
upd AS (
    UPDATE registry.household h SET version = h.version + 1, survey_status = 'collected', return_reason = NULL,
        verified_by = NULL, verified_at = NULL, approved_by = NULL, approved_at = NULL, updated_by = $1,
        updated_at = now()
    FROM touched t WHERE h.id = t.id
    RETURNING h.id, h.version),
hist AS (
    INSERT INTO registry.change_history (record_type, record_id, version, action, changes, reason, changed_by,
                                         request_id)
    SELECT 'household', u.id, u.version, 'member.added',
           jsonb_build_object('members',
                              jsonb_build_object('from', NULL, 'to', jsonb_build_object('import', $2::text))),
           'bulk import', $1, $3
    FROM upd u)
SELECT count(*) FROM upd
"""

# The envelope kernel.outbox.envelope_for writes, built in SQL for every imported row at once;
# the data objects carry exactly the contract fields (checked by the tests against the models).
_ENVELOPE = """jsonb_build_object('id', e.event_id, 'type', $1::text, 'source', 'registry', 'occurred_at', $2::text,
                                   'request_id', $3::text, 'data', e.data)"""

_PERSON_EVENTS = f"""
INSERT INTO registry.outbox (id, subject, payload, headers)
SELECT e.event_id, $1, {_ENVELOPE}, $4::jsonb
FROM (SELECT s.event_id, jsonb_build_object(
        'person_id', s.id, 'household_id', s.household_id, 'area_code', s.area_code, 'full_name', s.full_name,
        'sex', s.sex,
        'birth_date', s.birth_date, 'birth_date_estimated', s.birth_date_estimated, 'birth_year', s.birth_year,
        'disability', s.disability, 'pregnant', s.pregnant, 'phones', to_jsonb(s.phones),
        'preferred_language', s.preferred_language, 'status', 'active', 'identifier_types', to_jsonb(s.id_types),
        'version', 1) AS data
      FROM import_person s) e
"""

# New households: every member is a staged row, so the members come from staging, not the tables just written.
_HOUSEHOLD_CREATED_EVENTS = f"""
WITH members AS (
    SELECT s.household_id, (array_agg(s.id) FILTER (WHERE s.role = 'head'))[1] AS head,
           jsonb_agg(s.id ORDER BY s.role <> 'head', s.birth_date NULLS LAST, s.id) AS members
    FROM import_person s GROUP BY s.household_id)
INSERT INTO registry.outbox (id, subject, payload, headers)
SELECT e.event_id, $1, {_ENVELOPE}, $4::jsonb
FROM (SELECT gen_random_uuid() AS event_id, jsonb_build_object(
        'household_id', hh.id, 'area_code', hh.area_code, 'status', hh.status, 'survey_status', hh.survey_status,
        'head_person_id', m.head, 'member_ids', m.members, 'version', hh.version) AS data
      FROM import_household h
      JOIN members m ON m.household_id = h.id
      JOIN registry.household hh ON hh.id = h.id
      WHERE h.created) e
"""

# Existing households that gained members: all their live members, old and new.
_HOUSEHOLD_EVENTS = f"""
WITH members AS (
    SELECT mm.household_id, (array_agg(mm.person_id) FILTER (WHERE mm.role = 'head'))[1] AS head,
           jsonb_agg(mm.person_id ORDER BY mm.role <> 'head', p.birth_date NULLS LAST, p.id) AS members
    FROM import_household h
    JOIN registry.membership mm ON mm.household_id = h.id AND mm.ended_on IS NULL
    JOIN registry.person p ON p.id = mm.person_id
    WHERE h.created = $5
    GROUP BY mm.household_id),
touched AS (
    SELECT h.id FROM import_household h WHERE h.created = $5 AND (h.created OR h.client_ref IN (
        SELECT s.household_ref FROM import_person s)))
INSERT INTO registry.outbox (id, subject, payload, headers)
SELECT e.event_id, $1, {_ENVELOPE}, $4::jsonb
FROM (SELECT gen_random_uuid() AS event_id, jsonb_build_object(
        'household_id', hh.id, 'area_code', hh.area_code, 'status', hh.status, 'survey_status', hh.survey_status,
        'head_person_id', m.head, 'member_ids', coalesce(m.members, '[]'::jsonb), 'version', hh.version)
        || CASE WHEN $5 THEN '{{}}'::jsonb ELSE jsonb_build_object('changed_fields', jsonb_build_array('members')) END
        AS data
      FROM touched t
      JOIN registry.household hh ON hh.id = t.id
      LEFT JOIN members m ON m.household_id = t.id) e
"""


async def raw_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection  # type: ignore[return-value]


def _count(status: str) -> int:
    """Rows affected, from a command tag such as ``INSERT 0 42``."""
    return int(status.rsplit(" ", 1)[-1])


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---------------------------------------------------------------- jobs

    async def claim_job(self, values: dict[str, Any]) -> uuid.UUID | None:
        """A new job row for this file and area, or None when the same file was imported there already."""
        stmt = (
            pg_insert(import_job)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["file_sha256", "area_code"])
            .returning(import_job.c.id)
        )
        return await self.session.scalar(stmt)

    async def job_for_file(self, sha256: str, area_code: str) -> RowMapping | None:
        stmt = select(import_job).where(import_job.c.file_sha256 == sha256, import_job.c.area_code == area_code)
        return await one_or_none(self.session, stmt)

    async def get_job(self, job_id: uuid.UUID, scopes: Sequence[str]) -> RowMapping | None:
        stmt = select(import_job).where(import_job.c.id == job_id, within_any(import_job.c.area_code, list(scopes)))
        return await one_or_none(self.session, stmt)

    async def finish_job(self, job_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = update(import_job).where(import_job.c.id == job_id).values(**values).returning(import_job)
        row = await one_or_none(self.session, stmt)
        assert row is not None
        return row

    async def errors(self, job_id: uuid.UUID, *, limit: int | None, offset: int = 0) -> list[RowMapping]:
        stmt = (
            select(import_error.c.row, import_error.c.field, import_error.c.reason)
            .where(import_error.c.import_id == job_id)
            .order_by(import_error.c.row, import_error.c.id)
            .offset(offset)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(await all_rows(self.session, stmt))

    async def error_count(self, job_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(import_error).where(import_error.c.import_id == job_id)
        return int(await self.session.scalar(stmt) or 0)

    async def registered_areas(self, area_code: str) -> set[str]:
        conn = await raw_connection(self.session)
        rows = await conn.fetch(
            "SELECT code FROM registry.area WHERE code = $1 OR (code >= $1 || '-' AND code < $1 || '.')", area_code
        )
        return {r["code"] for r in rows}

    # ---------------------------------------------------------------- staging

    async def create_staging(self) -> None:
        conn = await raw_connection(self.session)
        await conn.execute(_STAGING_DDL)

    async def stage(self, persons: list[tuple[Any, ...]], identifiers: list[tuple[Any, ...]]) -> None:
        conn = await raw_connection(self.session)
        if persons:
            await conn.copy_records_to_table("import_person", records=persons, columns=PERSON_STAGE_COLUMNS)
        if identifiers:
            await conn.copy_records_to_table("import_identifier", records=identifiers,
                                             columns=IDENTIFIER_STAGE_COLUMNS)

    async def save_errors(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn = await raw_connection(self.session)
            await conn.copy_records_to_table("import_error", schema_name="registry", records=rows,
                                             columns=ERROR_COLUMNS)

    async def drop_existing_persons(self) -> int:
        """Rows whose person is already registered (a re-upload): left as they are, counted."""
        conn = await raw_connection(self.session)
        existing = int(await conn.fetchval(
            "WITH gone AS (DELETE FROM import_person s USING registry.person p WHERE p.client_ref = s.client_ref "
            "RETURNING s.id), _ AS (DELETE FROM import_identifier i USING gone WHERE i.person_id = gone.id) "
            "SELECT count(*) FROM gone"
        ))
        # The planner has no statistics for temp tables otherwise; the join and group keys are enough.
        await conn.execute("ANALYZE import_person (household_ref, client_ref, role)")
        return existing

    async def bad_households(self) -> list[asyncpg.Record]:
        conn = await raw_connection(self.session)
        return list(await conn.fetch(_HOUSEHOLD_CHECK))

    async def unstage_households(self, refs: list[str]) -> list[asyncpg.Record]:
        conn = await raw_connection(self.session)
        return list(await conn.fetch(
            "WITH gone AS (DELETE FROM import_person WHERE household_ref = ANY($1::text[]) "
            "RETURNING id, row, household_ref, role), "
            "_ AS (DELETE FROM import_identifier i USING gone WHERE i.person_id = gone.id) "
            "SELECT row, household_ref, role FROM gone",
            refs,
        ))

    # ---------------------------------------------------------------- the real tables

    async def insert_all(self, actor: str, job_id: uuid.UUID, request_id: str | None) -> dict[str, int]:
        conn = await raw_connection(self.session)
        created = _count(await conn.execute(_INSERT_HOUSEHOLDS, actor))
        if _count(await conn.execute(_EXISTING_HOUSEHOLDS)):
            await conn.execute(_REPOINT_TO_EXISTING)
        persons = _count(await conn.execute(_INSERT_PERSONS, actor))
        if persons < int(await conn.fetchval("SELECT count(*) FROM import_person")):
            await conn.execute(_UNSTAGE_NOT_LANDED)
        await conn.execute("ANALYZE import_household; ANALYZE import_identifier (person_id, id_type, lookup_hash)")
        await conn.execute(_INSERT_MEMBERSHIPS, actor)
        await conn.execute(_INSERT_IDENTIFIERS, actor)
        await conn.execute(_HISTORY, actor, str(job_id), request_id)
        updated = int(await conn.fetchval(_TOUCH_EXISTING, actor, str(job_id), request_id) or 0)
        return {"persons_created": persons, "households_created": created, "households_updated": updated}

    async def landed_person_range(self) -> tuple[uuid.UUID, uuid.UUID] | None:
        """The first and last id of the persons this import wrote (time-ordered: one id range)."""
        conn = await raw_connection(self.session)
        row = await conn.fetchrow("SELECT (SELECT id FROM import_person ORDER BY id LIMIT 1) AS first, "
                                  "(SELECT id FROM import_person ORDER BY id DESC LIMIT 1) AS last")
        return None if row is None or row["first"] is None else (row["first"], row["last"])

    async def write_events(self, request_id: str | None) -> int:
        """Person registered / household created / household updated events for what landed."""
        conn = await raw_connection(self.session)
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        headers = json.dumps({"X-Request-ID": request_id} if request_id else {})
        written = _count(await conn.execute(_PERSON_EVENTS, PersonRegistered.subject, now, request_id, headers))
        written += _count(await conn.execute(_HOUSEHOLD_CREATED_EVENTS, HouseholdCreated.subject, now, request_id,
                                             headers))
        written += _count(await conn.execute(_HOUSEHOLD_EVENTS, HouseholdUpdated.subject, now, request_id, headers,
                                             False))
        if written:
            await conn.execute("SELECT pg_notify($1, '')", notify_channel(SERVICE))
        return written

    async def analyze(self) -> None:
        """Fresh planner statistics after a large load (lookups must not plan for the empty tables)."""
        conn = await raw_connection(self.session)
        await conn.execute("ANALYZE registry.person, registry.identifier, registry.membership, registry.household, "
                           "registry.person_name_token")
