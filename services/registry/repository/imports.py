"""Bulk-import SQL: ``COPY`` of ready lines into the registry's tables, and the few set-based fixes.

Everything runs on the request's (or job's) own connection and transaction.  The lines come
from the validating workers (``service.imports_rows``) after the whole-file rules
(``service.imports_landing``) decided what lands; the outbox events travel as batch rows
(``kernel.outbox.batch_line``: one row per ≤500 events).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import orjson
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import HouseholdUpdated
from kernel.areas import within_any
from kernel.errors import Conflict, ServiceUnavailable
from kernel.outbox import copy_event_batches, notify_channel
from kernel.paging import paged
from kernel.queries import raw_connection
from services.registry import SERVICE
from services.registry.models.imports import import_error, import_job
from services.registry.repository.common import all_rows, one_or_none
from services.registry.service.imports_landing import ChunkLines, ExistingHousehold
from services.registry.service.imports_rows import (
    HOUSEHOLD_COLUMNS,
    IDENTIFIER_COLUMNS,
    MEMBERSHIP_COLUMNS,
    PERSON_COLUMNS,
)

ERROR_COLUMNS = ("import_id", "row", "field", "reason")
IMPORT_LOCK = "registry.bulk_import"

_EXISTING_HOUSEHOLDS = """
SELECT h.client_ref, h.id::text AS id, h.area_code, h.status,
       EXISTS (SELECT 1 FROM registry.membership m
               WHERE m.household_id = h.id AND m.role = 'head' AND m.ended_on IS NULL) AS has_head
FROM registry.household h WHERE h.client_ref = ANY($1::text[])
"""

# Existing (or scattered) households that gained members: a content edit, so review starts again
# (surveys.mark_edited), a history entry, and a household.updated event with all live members.
_TOUCH = """
WITH upd AS (
    UPDATE registry.household h SET version = h.version + 1, survey_status = 'collected', return_reason = NULL,
        verified_by = NULL, verified_at = NULL, approved_by = NULL, approved_at = NULL, updated_by = $2,
        updated_at = now()
    WHERE h.id = ANY($1::uuid[])
    RETURNING h.id, h.area_code, h.status, h.survey_status, h.version),
hist AS (
    INSERT INTO registry.change_history (record_type, record_id, version, action, changes, reason, changed_by,
                                         request_id)
    SELECT 'household', u.id, u.version, 'member.added',
           jsonb_build_object('members',
                              jsonb_build_object('from', NULL, 'to', jsonb_build_object('import', $3::text))),
           'bulk import', $2, $4
    FROM upd u),
members AS (
    SELECT mm.household_id, (array_agg(mm.person_id) FILTER (WHERE mm.role = 'head'))[1] AS head,
           jsonb_agg(mm.person_id ORDER BY mm.role <> 'head', p.birth_date NULLS LAST, p.id) AS members
    FROM registry.membership mm JOIN registry.person p ON p.id = mm.person_id
    WHERE mm.household_id = ANY($1::uuid[]) AND mm.ended_on IS NULL
    GROUP BY mm.household_id),
events AS (
    INSERT INTO registry.outbox (id, subject, payload, headers)
    SELECT e.event_id, $5, jsonb_build_object('id', e.event_id, 'type', $5::text, 'source', 'registry',
                                              'occurred_at', $6::text, 'request_id', $4::text, 'data', e.data,
                                              'entity', 'household:' || e.household_id,
                                              'entity_version', e.version),
           $7::jsonb
    FROM (SELECT gen_random_uuid() AS event_id, u.id AS household_id, u.version, jsonb_build_object(
            'household_id', u.id, 'area_code', u.area_code, 'status', u.status, 'survey_status', u.survey_status,
            'head_person_id', m.head, 'member_ids', coalesce(m.members, '[]'::jsonb), 'version', u.version,
            'changed_fields', jsonb_build_array('members')) AS data
          FROM upd u LEFT JOIN members m ON m.household_id = u.id) e)
SELECT count(*) FROM upd
"""

_REMOVE_LANDED = """
WITH i AS (DELETE FROM registry.identifier WHERE person_id = ANY($1::uuid[])),
     m AS (DELETE FROM registry.membership WHERE person_id = ANY($1::uuid[]))
SELECT 1
"""


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---------------------------------------------------------------- jobs

    async def lock_imports(self, timeout_seconds: float) -> None:
        """One import at a time (transaction-scoped): two files must not race to create one household."""
        conn = await raw_connection(self.session)
        # A bulk import is one long transaction: the request role's statement timeout does not apply.
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute(f"SET LOCAL lock_timeout = '{int(timeout_seconds * 1000)}ms'")
        try:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", IMPORT_LOCK)
        except asyncpg.LockNotAvailableError as exc:
            raise ServiceUnavailable("Another bulk import is still running; try again in a few minutes",
                                     headers={"Retry-After": "60"}) from exc
        await conn.execute("SET LOCAL lock_timeout = DEFAULT")

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
            .select_from(import_error)
            .where(import_error.c.import_id == job_id)
            .order_by(import_error.c.row, import_error.c.id)
        )
        return list(await all_rows(self.session, paged(stmt, limit=limit, offset=offset)))

    async def error_count(self, job_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(import_error).where(import_error.c.import_id == job_id)
        return int(await self.session.scalar(stmt) or 0)

    async def save_errors(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn = await raw_connection(self.session)
            await conn.copy_records_to_table("import_error", schema_name="registry", records=rows,
                                             columns=ERROR_COLUMNS)

    async def registered_areas(self, area_code: str) -> set[str]:
        conn = await raw_connection(self.session)
        rows = await conn.fetch(
            "SELECT code FROM registry.area WHERE code = $1 OR (code >= $1 || '-' AND code < $1 || '.')", area_code
        )
        return {r["code"] for r in rows}

    # ---------------------------------------------------------------- what is there already

    async def existing_households(self, refs: list[str]) -> dict[str, ExistingHousehold]:
        conn = await raw_connection(self.session)
        return {r["client_ref"]: ExistingHousehold(id=r["id"], area_code=r["area_code"], status=r["status"],
                                                   has_head=r["has_head"])
                for r in await conn.fetch(_EXISTING_HOUSEHOLDS, refs)}

    async def existing_persons(self, client_refs: list[str]) -> set[str]:
        """The rows' persons already registered (a re-upload or an amended file)."""
        if not client_refs:
            return set()
        conn = await raw_connection(self.session)
        rows = await conn.fetch("SELECT client_ref FROM registry.person WHERE client_ref = ANY($1::text[])",
                                client_refs)
        return {r["client_ref"] for r in rows}

    # ---------------------------------------------------------------- landing

    async def write(self, lines: ChunkLines, request_id: str | None) -> None:
        """COPY one chunk's lines, parents first (persons and households before memberships)."""
        try:
            await self._copy(lines, request_id)
        except asyncpg.UniqueViolationError as exc:  # not one of this file's rows, nor known when the chunk was read
            raise Conflict(f"A row of the sheet collides with a record registered outside this import "
                           f"({exc.detail or exc}); give the household another household_ref, or drop the row",
                           constraint=exc.constraint_name) from exc

    async def _copy(self, lines: ChunkLines, request_id: str | None) -> None:
        conn = await raw_connection(self.session)
        for table, columns, rows in (
            ("person", PERSON_COLUMNS, lines.persons),
            ("household", HOUSEHOLD_COLUMNS, lines.households),
            ("membership", MEMBERSHIP_COLUMNS, lines.memberships),
            ("identifier", IDENTIFIER_COLUMNS, lines.identifiers),
        ):
            if rows:
                await conn.copy_to_table(table, schema_name="registry", columns=columns, format="text",
                                         source=_once("".join(rows).encode()))
        if lines.batches:  # the landing hands over pieces of whole lines; the outbox wants the lines
            await copy_event_batches(
                conn, SERVICE, ["".join(events).rstrip("\n").split("\n") for _, events in lines.batches],
                headers={"X-Request-ID": request_id} if request_id else {},
                ids=[uuid.UUID(batch_id) for batch_id, _ in lines.batches])

    async def notify_relay(self) -> None:
        """Wake the relay at commit (the events of touched households are single rows)."""
        conn = await raw_connection(self.session)
        await conn.execute("SELECT pg_notify($1, '')", notify_channel(SERVICE))

    # ---------------------------------------------------------------- rejected households, touched ones

    async def import_rows_of_household(self, household_id: str) -> tuple[list[str], list[int]]:
        """Persons of a household created by this import, and their sheet rows."""
        conn = await raw_connection(self.session)
        rows = await conn.fetch(
            "SELECT p.id::text AS id, p.import_row AS row FROM registry.membership m "
            "JOIN registry.person p ON p.id = m.person_id WHERE m.household_id = $1::uuid", household_id)
        return [r["id"] for r in rows], [r["row"] for r in rows if r["row"] is not None]

    async def remove_landed(self, person_ids: list[str], household_ids: list[str]) -> None:
        conn = await raw_connection(self.session)
        await conn.execute(_REMOVE_LANDED, person_ids)
        await conn.execute("DELETE FROM registry.person WHERE id = ANY($1::uuid[])", person_ids)
        await conn.execute("DELETE FROM registry.household WHERE id = ANY($1::uuid[])", household_ids)

    async def drop_events(self, batch_ids: list[str], person_ids: set[str], household_ids: set[str]) -> None:
        """Take the events of removed persons and households out of the import's outbox batches."""
        conn = await raw_connection(self.session)
        for row in await conn.fetch("SELECT id, batch FROM registry.outbox WHERE id = ANY($1::uuid[])", batch_ids):
            kept = [line for line in row["batch"].split("\n")
                    if not _about(line, person_ids, household_ids)]
            if kept:
                await conn.execute("UPDATE registry.outbox SET batch = $2, events = $3 WHERE id = $1",
                                   row["id"], "\n".join(kept), len(kept))
            else:
                await conn.execute("DELETE FROM registry.outbox WHERE id = $1", row["id"])

    async def touch_households(self, household_ids: list[str], actor: str, job_id: str, request_id: str | None,
                               occurred_at: str) -> int:
        if not household_ids:
            return 0
        conn = await raw_connection(self.session)
        headers = json.dumps({"X-Request-ID": request_id} if request_id else {})
        return int(await conn.fetchval(_TOUCH, household_ids, actor, job_id, request_id, HouseholdUpdated.subject,
                                       occurred_at, headers) or 0)

    async def analyze(self) -> None:
        """Fresh planner statistics after a large load (lookups must not plan for the empty tables)."""
        conn = await raw_connection(self.session)
        await conn.execute("ANALYZE registry.person, registry.identifier, registry.membership, registry.household, "
                           "registry.person_name_token")


async def _once(data: bytes) -> AsyncIterator[bytes]:
    """COPY data as an async iterable (asyncpg would take a bare ``bytes`` for a file path)."""
    yield data


def _about(line: str, person_ids: set[str], household_ids: set[str]) -> bool:
    """Is this batch line an event about one of these persons, or the creation of one of these households?"""
    data = orjson.loads(line.split("\t", 2)[2])["data"]
    return data.get("person_id") in person_ids or (
        "person_id" not in data and data.get("household_id") in household_ids)
