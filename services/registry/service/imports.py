"""Bulk import of survey sheets (CSV or XLSX): validate every row, land the valid ones fast.

The fast path streams the sheet in chunks.  Worker processes (``imports_pool``) validate each
chunk with the registry's own rules and turn its valid rows into ``COPY`` text lines
(``imports_rows``); meanwhile this process applies the whole-file rules in file order
(``imports_landing``: one head per household, one area per household, existing households and
persons) and streams the lines of the rows that land straight into the registry's tables with
``COPY`` (persons and households, which carry their import and sheet row as their "create"
history entry, memberships, identifiers, and the ``person.registered`` / ``household.created``
events as outbox batch rows), all in the caller's transaction.  Name tokens and duplicate
flags are derived data: a large import leaves them to a scheduled job (``imports_index``; the
job row says ``search_index = 'pending'`` until it is done), a small one builds them before it
commits.  Invalid rows are reported (row, field,
reason) and never written; a household that breaks a whole-file rule is rejected whole (what
of it had landed is removed before the commit), so no household is left without its head.

Re-importing is harmless: the same file for the same area returns the first job, and every row
has a natural key (``household_ref`` and ``household_ref:member_no`` become the records'
``client_ref``), so an amended file adds only its new rows.  Imports take a transaction-level
lock, one at a time, so two files cannot race to create the same household.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from typing import Any

from prometheus_client import Counter, Histogram
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import InvalidAreaCode, parse_area_code
from kernel.auth import Identity
from kernel.context import request_id_var
from kernel.errors import Forbidden, NotFound, ServiceUnavailable, ValidationProblem
from services.registry.repository.areas import AreaRepository
from services.registry.repository.imports import ImportRepository
from services.registry.service.common import actor
from services.registry.service.imports_files import ReceivedFile, Sheet, open_sheet
from services.registry.service.imports_ids import household_prefix
from services.registry.service.imports_index import defer, index_now
from services.registry.service.imports_landing import Household, Landing
from services.registry.service.imports_pool import ChunkRunner, default_workers
from services.registry.service.imports_rows import (
    ChunkOutput,
    ImportContext,
    SheetUnreadable,
    process_cells,
    process_text,
)
from services.registry.settings import get_registry_settings

IMPORT_ROWS = Counter("gramsetu_registry_import_rows_total", "Sheet rows imported, by outcome", ["outcome"])
IMPORT_DURATION = Histogram(
    "gramsetu_registry_import_duration_seconds", "Time to import one sheet",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)


class ImportSettings(BaseSettings):
    """``GRAMSETU_REGISTRY_IMPORT_*``: upload limit, chunking, worker processes, report cap."""

    model_config = SettingsConfigDict(env_prefix="GRAMSETU_REGISTRY_IMPORT_", env_file=".env", extra="ignore")

    max_bytes: int = 50 * 1024 * 1024
    chunk_rows: int = 5_000
    max_errors: int = 100_000  # errors kept per job; the counts stay exact beyond it
    # From this many new persons on, name tokens and duplicate flags are built by a job after commit.
    defer_index_rows: int = 10_000
    workers: int = default_workers()  # validating processes; 0 = validate in the importing process
    workers_from_bytes: int = 4 * 1024 * 1024  # smaller files (~12,000 rows) are validated inline: no process start-up
    lock_timeout_seconds: float = 300.0  # waiting for another import to finish


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
    settings = import_settings()
    await repo.lock_imports(settings.lock_timeout_seconds)
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
    request_id = request_id_var.get()
    occurred_at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    keys = get_registry_settings()
    context = ImportContext(
        job_id=str(job_id), keys=tuple(sheet.keys), import_area=area_code, scopes=tuple(identity.area_scope),
        known_areas=frozenset(await repo.registered_areas(area_code)), today=datetime.now(timezone.utc).date(),
        encryption_key=keys.id_encryption_key, hmac_key=keys.id_hmac_key, actor=who, request_id=request_id,
        occurred_at=occurred_at, delimiter=sheet.delimiter, household_prefix=household_prefix(),
    )
    landing = Landing(occurred_at, request_id)
    sink = _ErrorSink(repo, job_id, settings.max_errors)
    workers = settings.workers if received.size >= settings.workers_from_bytes else 0
    try:
        rows_total = await _stream(repo, sheet, context, landing, sink, ChunkRunner(workers), settings.chunk_rows,
                                   progress)
    finally:
        sheet.close()
    removed = await _remove_rejected(repo, landing, sink)
    updated = await repo.touch_households([hh.id for hh in landing.touched if not hh.bad], who, str(job_id),
                                          request_id, occurred_at)
    await repo.notify_relay()
    await sink.flush()
    counts: dict[str, Any] = {
        "rows_total": rows_total, "rows_invalid": rows_total - (landing.landed - removed) - landing.existing_persons,
        "persons_created": landing.landed - removed, "persons_existing": landing.existing_persons,
        "households_created": sum(1 for hh in landing.households.values()
                                  if hh.existing is None and hh.head_id is not None and not hh.bad),
        "households_updated": updated,
    }
    counts["rows_valid"] = rows_total - counts["rows_invalid"]
    await _index_names_and_duplicates(session, job_id, landing, counts["persons_created"], settings.defer_index_rows)
    counts["errors_truncated"] = sink.saved >= settings.max_errors
    counts["duration_seconds"] = round(time.monotonic() - started, 3)
    IMPORT_ROWS.labels("valid").inc(counts["rows_valid"])
    IMPORT_ROWS.labels("invalid").inc(counts["rows_invalid"])
    IMPORT_DURATION.observe(counts["duration_seconds"])
    return ImportResult(job=await repo.finish_job(job_id, counts), reused=False)


async def _stream(repo: ImportRepository, sheet: Sheet, context: ImportContext, landing: Landing,
                  sink: _ErrorSink, runner: ChunkRunner, chunk_rows: int, progress: Progress | None) -> int:
    """Read, validate (in the workers) and land the sheet chunk by chunk; the number of non-blank rows.

    Up to ``runner.in_flight`` chunks are being validated while the oldest one is landed, so the
    workers and the database work at the same time."""
    pending: deque[asyncio.Future[ChunkOutput]] = deque()
    total = 0

    async def land(output: ChunkOutput) -> None:
        nonlocal total
        total += output.rows_seen
        sink.add(output.errors)
        new = landing.new_refs(output)
        landing.add_households(output, await repo.existing_households(new) if new else {})
        in_tables = await repo.existing_persons(landing.refs_to_check(output))
        await repo.write(landing.take(output, in_tables), context.request_id)
        sink.add(landing.errors)
        landing.errors.clear()
        await sink.flush_if_full()
        if progress:
            progress(total)

    try:
        for work, *args in _work(sheet, context, chunk_rows):
            pending.append(runner.submit(work, *args))
            while len(pending) > runner.in_flight:
                await land(await pending.popleft())
        while pending:
            await land(await pending.popleft())
    except SheetUnreadable as exc:
        raise ValidationProblem(str(exc)) from exc
    except BrokenProcessPool as exc:  # a worker died mid-import; the next import starts new ones
        raise ServiceUnavailable("The import's validating processes stopped; nothing was written, try again",
                                 headers={"Retry-After": "5"}) from exc
    finally:
        for future in pending:
            future.cancel()
    await repo.write(landing.finish(), context.request_id)
    if total == 0:
        raise ValidationProblem("The sheet has a header row but no data rows",
                                errors=[{"field": "body", "reason": "no rows"}])
    return total


def _work(sheet: Sheet, context: ImportContext, rows: int) -> Iterator[tuple[Any, ...]]:
    """(function, arguments) per chunk: CSV chunks travel as text, XLSX rows as cells."""
    if sheet.cells is not None:
        while chunk := list(islice(sheet.cells, rows)):
            yield process_cells, context, chunk
    else:
        for first_row, text in sheet.blocks(rows):
            yield process_text, context, first_row, text


async def _remove_rejected(repo: ImportRepository, landing: Landing, sink: _ErrorSink) -> int:
    """Take back what landed of the households rejected by a whole-file rule; report their rows."""
    rejected = landing.rejected
    if not rejected:
        return 0
    person_ids: list[str] = []
    report: list[tuple[int, str, str]] = []
    for hh in rejected:
        landed, rows = await _landed_of(repo, hh)
        person_ids.extend(landed)
        field, reason = hh.reason()
        report.extend((row, field, reason) for row in sorted(set(rows)))
    created = [hh.id for hh in rejected if hh.existing is None]
    await repo.remove_landed(person_ids, created)
    await repo.drop_events(landing.batches_of(rejected), set(person_ids), set(created))
    sink.add(sorted(report))
    return len(person_ids)


async def _landed_of(repo: ImportRepository, hh: Household) -> tuple[list[str], list[int]]:
    """The persons of a rejected household that landed, and all its rows (from the database for
    the part of a scattered household that was closed before)."""
    landed = [m[2] for m in hh.members] if hh.members is not None else []
    rows = list(hh.rows)
    if hh.members is None:  # reopened: its first rows were closed and forgotten; ask the tables
        landed, earlier = await repo.import_rows_of_household(hh.id)
        rows.extend(earlier)
    return landed, rows


async def _index_names_and_duplicates(session: AsyncSession, job_id: uuid.UUID, landing: Landing,
                                      persons_created: int, defer_from: int) -> None:
    """Search tokens and duplicate flags: inline for a small import, by the index job for a large one."""
    if landing.first_person is None or landing.last_person is None or persons_created == 0:
        return
    first, last = uuid.UUID(landing.first_person), uuid.UUID(landing.last_person)
    if persons_created >= defer_from:
        await defer(session, job_id, first, last)
    else:
        await index_now(session, job_id, first, last)


class _ErrorSink:
    """Buffers report rows and saves them in chunks, up to the per-job cap."""

    def __init__(self, repo: ImportRepository, job_id: uuid.UUID, cap: int) -> None:
        self.repo, self.job_id, self.cap = repo, job_id, cap
        self.buffer: list[tuple[Any, ...]] = []
        self.saved = 0

    def add(self, errors: list[tuple[int, str, str]]) -> None:
        room = self.cap - self.saved - len(self.buffer)
        self.buffer.extend((self.job_id, *e) for e in errors[: max(room, 0)])

    async def flush_if_full(self) -> None:
        if len(self.buffer) >= 5_000:
            await self.flush()

    async def flush(self) -> None:
        await self.repo.save_errors(self.buffer)
        self.saved += len(self.buffer)
        self.buffer = []


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
