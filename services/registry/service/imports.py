"""Bulk import of survey sheets (CSV or XLSX): validate every row, land the valid ones fast.

The fast path: rows are validated in Python with the registry's own rules
(:mod:`services.registry.rules.imports`), the valid ones are COPYed in chunks into session-local
staging tables (asyncpg ``copy_records_to_table``), whole-file checks (one head per household,
households that already exist) run in SQL over the staged rows, and then households, persons,
memberships, identifiers, history and the outbox events are written with set-based ``INSERT ...
SELECT``, all in the caller's transaction.  Name tokens and duplicate flags are derived data: a
large import leaves them to a scheduled job (``imports_index``; the job row says
``search_index = 'pending'`` until it is done), a small one builds them before it commits.  Staged records carry
time-ordered ids (``imports_ids``: index inserts append instead of landing on random pages), and
identifiers are protected exactly as ``service.identifiers`` does it (``imports_crypto``: the same
Fernet tokens, built more cheaply); phones take a checked fast path (``rules.imports``).  Invalid rows are reported
(row, field, reason) and never written; a household whose head row is invalid is rejected whole,
so no household is left without its head.

Re-importing is harmless: the same file for the same area returns the first job, and every row
has a natural key (``household_ref`` and ``household_ref:member_no`` become the records'
``client_ref``), so an amended file adds only its new rows (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import csv
import hmac
import io
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import InvalidAreaCode, parse_area_code
from kernel.auth import Identity
from kernel.context import request_id_var
from kernel.errors import Forbidden, NotFound, ValidationProblem
from services.registry.repository.areas import AreaRepository
from services.registry.repository.imports import ImportRepository
from services.registry.rules.imports import RowError, RowValidator, ValidRow
from services.registry.service.common import actor
from services.registry.service.imports_crypto import FernetWriter
from services.registry.service.imports_files import EXTRA_CELLS, ReceivedFile, open_sheet
from services.registry.service.imports_ids import TimeOrderedIds
from services.registry.service.imports_index import defer, index_now
from services.registry.settings import get_registry_settings

IMPORT_ROWS = Counter("gramsetu_registry_import_rows_total", "Sheet rows imported, by outcome", ["outcome"])
IMPORT_DURATION = Histogram(
    "gramsetu_registry_import_duration_seconds", "Time to import one sheet",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)


class ImportSettings(BaseSettings):
    """``GRAMSETU_REGISTRY_IMPORT_*``: upload limit, staging chunk size, report cap."""

    model_config = SettingsConfigDict(env_prefix="GRAMSETU_REGISTRY_IMPORT_", env_file=".env", extra="ignore")

    max_bytes: int = 50 * 1024 * 1024
    chunk_rows: int = 20_000
    max_errors: int = 100_000  # errors kept per job; the counts stay exact beyond it
    # From this many new persons on, name tokens and duplicate flags are built by a job after commit.
    defer_index_rows: int = 10_000


def import_settings() -> ImportSettings:
    return ImportSettings()


Progress = Callable[[int], None]  # called with the number of rows read so far


@dataclass
class ImportResult:
    job: RowMapping
    reused: bool


def _check_import_area(identity: Identity, area: str) -> str:
    try:
        code = parse_area_code(area).value
    except InvalidAreaCode as exc:
        raise ValidationProblem(str(exc), errors=[{"field": "area", "reason": str(exc)}]) from exc
    if not identity.can_access_area(code):
        raise Forbidden(f"Area {code} is outside your area scope.")
    return code


async def import_file(
    session: AsyncSession,
    identity: Identity,
    received: ReceivedFile,
    area: str,
    *,
    file_name: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one sheet into ``area`` for ``identity``; the caller commits."""
    started = time.monotonic()
    area_code = _check_import_area(identity, area)
    repo = ImportRepository(session)
    if parse_area_code(area_code).depth > 0 and await AreaRepository(session).get(area_code) is None:
        raise ValidationProblem(f"Area {area_code} is not registered", errors=[{"field": "area",
                                                                                 "reason": "unknown area"}])
    who = actor(identity)
    job_id = await repo.claim_job({
        "file_sha256": received.sha256, "file_name": (file_name or "")[:200] or None, "file_format": received.format,
        "file_bytes": received.size, "area_code": area_code, "created_by": who,
    })
    if job_id is None:  # the same file was imported for this area before: nothing to do
        received.file.close()
        existing = await repo.job_for_file(received.sha256, area_code)
        assert existing is not None
        return ImportResult(job=existing, reused=True)
    sheet = open_sheet(received)
    try:
        validator = RowValidator(area_code, identity.area_scope, await repo.registered_areas(area_code))
        await repo.create_staging()
        counts = await _stage_rows(repo, validator, sheet.rows, job_id, progress)
    finally:
        sheet.close()
    counts["persons_existing"] = await repo.drop_existing_persons()
    rejected = await _reject_bad_households(repo, job_id)
    counts["rows_valid"] -= rejected
    counts["rows_invalid"] += rejected
    request_id = request_id_var.get()
    counts.update(await repo.insert_all(who, job_id, request_id))
    await repo.write_events(request_id)
    await _index_names_and_duplicates(session, repo, job_id, counts["persons_created"])
    counts["errors_truncated"] = counts.pop("errors_saved") >= import_settings().max_errors
    counts["duration_seconds"] = round(time.monotonic() - started, 3)
    IMPORT_ROWS.labels("valid").inc(counts["rows_valid"])
    IMPORT_ROWS.labels("invalid").inc(counts["rows_invalid"])
    IMPORT_DURATION.observe(counts["duration_seconds"])
    return ImportResult(job=await repo.finish_job(job_id, counts), reused=False)


async def _index_names_and_duplicates(session: AsyncSession, repo: ImportRepository, job_id: uuid.UUID,
                                      persons_created: int) -> None:
    """Search tokens and duplicate flags: inline for a small import, by the index job for a large one."""
    landed = await repo.landed_person_range()
    if landed is None:
        return
    if persons_created >= import_settings().defer_index_rows:
        await defer(session, job_id, *landed)
    else:
        await index_now(session, job_id, *landed)


class _ErrorSink:
    """Buffers report rows and saves them in chunks, up to the per-job cap."""

    def __init__(self, repo: ImportRepository, job_id: uuid.UUID) -> None:
        self.repo, self.job_id = repo, job_id
        self.buffer: list[tuple[Any, ...]] = []
        self.saved = 0
        self.cap = import_settings().max_errors

    def add(self, errors: list[RowError]) -> None:
        room = self.cap - self.saved - len(self.buffer)
        self.buffer.extend((self.job_id, e.row, e.field, e.reason) for e in errors[: max(room, 0)])

    async def flush(self) -> None:
        await self.repo.save_errors(self.buffer)
        self.saved += len(self.buffer)
        self.buffer = []


async def _stage_rows(
    repo: ImportRepository,
    validator: RowValidator,
    rows: Iterator[tuple[int, dict[str, Any]]],
    job_id: uuid.UUID,
    progress: Progress | None,
) -> dict[str, Any]:
    chunk = import_settings().chunk_rows
    sink = _ErrorSink(repo, job_id)
    persons: list[tuple[Any, ...]] = []
    identifiers: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    ids = _StageIds()
    total = valid = 0
    for row_no, values in rows:
        total += 1
        result = _validate(validator, row_no, values, seen)
        if isinstance(result, list):
            sink.add(result)
        else:
            valid += 1
            _stage_record(result, ids, persons, identifiers)
        if total % chunk == 0:
            await repo.stage(persons, identifiers)
            await sink.flush()
            persons, identifiers = [], []
            if progress:
                progress(total)
    await repo.stage(persons, identifiers)
    await sink.flush()
    if progress:
        progress(total)
    if total == 0:
        raise ValidationProblem("The sheet has a header row but no data rows",
                                errors=[{"field": "body", "reason": "no rows"}])
    return {"rows_total": total, "rows_valid": valid, "rows_invalid": total - valid, "errors_saved": sink.saved}


def _validate(
    validator: RowValidator, row_no: int, values: dict[str, Any], seen: set[str]
) -> ValidRow | list[RowError]:
    if values.pop(EXTRA_CELLS, False):
        return [RowError(row_no, "row", "values beyond the last named column")]
    result = validator.validate(row_no, values)
    if isinstance(result, ValidRow):
        if result.client_ref in seen:
            return [RowError(row_no, "member_no", "the same household_ref and member_no appear on an earlier row")]
        seen.add(result.client_ref)
    return result


class _StageIds:
    """Time-ordered ids for the staged records (one household id per household_ref of the file),
    and the identifier protection of ``service.identifiers`` (same HMAC, same Fernet tokens)."""

    def __init__(self) -> None:
        self.new = TimeOrderedIds().next
        self.households: dict[str, str] = {}
        keys = get_registry_settings()
        self.encrypt = FernetWriter(keys.id_encryption_key).encrypt
        self._hmac_key = keys.id_hmac_key.encode()

    def lookup_hash(self, id_type: str, match_key: str) -> str:
        """``identifiers.lookup_hash`` with the key read once."""
        return hmac.digest(self._hmac_key, f"{id_type}:{match_key}".encode(), "sha256").hex()

    def household(self, ref: str) -> str:
        found = self.households.get(ref)
        if found is None:
            found = self.households[ref] = self.new()
        return found


def _stage_record(
    row: ValidRow, ids: _StageIds, persons: list[tuple[Any, ...]], identifiers: list[tuple[Any, ...]]
) -> None:
    new = ids.new
    person_id = new()
    for ident in row.identifiers:
        identifiers.append((
            new(), person_id, ident.id_type.value, ident.form, ids.lookup_hash(ident.id_type.value, ident.match_key),
            ids.encrypt(ident.value), ident.last4, ident.birth_year,
        ))
    persons.append((
        person_id, ids.household(row.household_ref), new(), new(),
        row.row, row.client_ref, row.household_ref, row.role, row.area_code, row.address,
        row.address_local, row.latitude, row.longitude, row.full_name, row.name_latin, row.name_key, row.sex,
        row.birth_date, row.birth_date_estimated, row.birth_date_source, row.birth_year, row.father_name,
        row.mother_name, row.father_key, row.mother_key, row.disability, row.pregnant, row.occupation, row.phones,
        row.preferred_language, sorted(i.id_type.value for i in row.identifiers),
    ))


def _household_reason(record: Any) -> tuple[str, str]:
    if record["areas"] > 1:
        return "area_code", "the rows of this household name different area codes"
    if not record["exists"]:
        if record["heads"] == 0:
            return "role", "the household has no valid head row (fix the head's row; see its errors)"
        return "role", f"a household needs exactly one head; this one has {record['heads']}"
    if record["existing_area"] != record["area_code"]:
        return "household_ref", "this household_ref is already registered for another area"
    if record["existing_status"] != "active":
        return "household_ref", f"this household is {record['existing_status']}; members cannot be added"
    return "role", "the household already has a head"


async def _reject_bad_households(repo: ImportRepository, job_id: uuid.UUID) -> int:
    """Unstage whole households that cannot be written; report each of their rows."""
    bad = {r["household_ref"]: _household_reason(r) for r in await repo.bad_households()}
    if not bad:
        return 0
    removed = await repo.unstage_households(list(bad))
    sink = _ErrorSink(repo, job_id)
    sink.add([RowError(r["row"], *bad[r["household_ref"]]) for r in sorted(removed, key=lambda r: r["row"])])
    await sink.flush()
    return len(removed)


# ---------------------------------------------------------------- reading jobs back


async def get_job(session: AsyncSession, identity: Identity, job_id: uuid.UUID) -> RowMapping:
    job = await ImportRepository(session).get_job(job_id, identity.area_scope)
    if job is None:
        raise NotFound("No such import in your area.")
    return job


async def report_rows(session: AsyncSession, job_id: uuid.UUID, *, limit: int | None,
                      offset: int = 0) -> list[RowMapping]:
    return await ImportRepository(session).errors(job_id, limit=limit, offset=offset)


async def error_count(session: AsyncSession, job_id: uuid.UUID) -> int:
    return await ImportRepository(session).error_count(job_id)


def report_csv(rows: list[RowMapping]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "field", "reason"])
    for row in rows:
        writer.writerow([row["row"], row["field"], row["reason"]])
    return out.getvalue()
