"""One chunk of sheet rows -> validated rows as ready-to-COPY text lines (pure: no I/O).

This is the CPU-heavy half of a bulk import, so it runs in worker processes
(``imports_pool``) beside the importing request: each chunk is validated with the registry's
own rules (:class:`~services.registry.rules.imports.RowValidator`), and every valid row comes
back with its record ids and the lines PostgreSQL's ``COPY ... FROM STDIN`` (text format)
takes for the person, membership, identifiers and the household (a head's row), plus
its ``person.registered`` event as an outbox batch line (:func:`kernel.outbox.batch_line`).
The importing process then only decides what lands (whole-file rules) and streams the lines.

Identifiers are protected exactly as ``service.identifiers`` does it (the same HMAC lookup
hash and Fernet tokens, ``imports_crypto``); record ids are time-ordered (``imports_ids``), one
generator per import in each process.
"""

from __future__ import annotations

import csv
import gc
import io
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from typing import Any, Final, NamedTuple

import orjson

from contracts.registry import PersonRegistered
from kernel.outbox import batch_line
from services.registry.rules.imports import RowError, RowValidator, ValidRow
from services.registry.service.imports_crypto import FernetWriter, KeyedSha256
from services.registry.service.imports_ids import TimeOrderedIds, household_id

EXTRA_CELLS_REASON = "values beyond the last named column"

PERSON_COLUMNS = (
    "id", "client_ref", "area_code", "full_name", "name_latin", "name_key", "sex", "birth_date",
    "birth_date_estimated", "birth_date_source", "birth_year", "father_name", "mother_name", "spouse_name",
    "father_key", "mother_key", "disability", "pregnant", "occupation", "phones", "preferred_language", "import_id",
    "import_row", "created_by", "updated_by",
)
MEMBERSHIP_COLUMNS = ("id", "household_id", "person_id", "role", "created_by")
IDENTIFIER_COLUMNS = (
    "id", "person_id", "id_type", "form", "lookup_hash", "value_encrypted", "last4", "birth_year", "created_by",
)
HOUSEHOLD_COLUMNS = (
    "id", "client_ref", "area_code", "address", "address_local", "latitude", "longitude", "import_id", "collected_by",
    "created_by", "updated_by",
)

# COPY text format: backslash, newline, carriage return and tab are escaped; \N is NULL.
_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_text(value: str | None) -> str:
    if value is None:
        return "\\N"
    if "\\" in value or "\n" in value or "\r" in value or "\t" in value:
        return value.translate(_ESCAPES)
    return value


def _flag(value: bool) -> str:
    return "t" if value else "f"


def _number(value: Any) -> str:
    return "\\N" if value is None else str(value)


@dataclass(frozen=True)
class ImportContext:
    """Everything a worker process needs to turn rows into lines (pickled with every chunk)."""

    job_id: str
    keys: tuple[str | None, ...]  # canonical column key per sheet position
    import_area: str
    scopes: tuple[str, ...]
    known_areas: frozenset[str]
    today: date
    encryption_key: str
    hmac_key: str
    actor: str
    request_id: str | None
    occurred_at: str  # the events' occurred_at, ISO 8601 UTC
    delimiter: str = ","  # of a CSV sheet
    household_prefix: str = "00000000-0000-8000-"  # imports_ids.household_prefix() of this import


class RowLines(NamedTuple):
    """A valid row: its facts and the lines to COPY if it lands (packed per chunk, see ChunkOutput)."""

    row: int  # sheet row number (the header is row 1)
    client_ref: str
    household_ref: str
    role: str
    area_code: str
    person_id: str
    birth_date: str  # ISO date, or "~" (sorts after every date) when unknown
    household_id: str  # imports_ids.household_id of the row's household; the landing may replace it
    person: str
    membership: str
    identifiers: str  # zero or more lines
    event: str  # the person.registered outbox batch line
    household: str | None  # a head's row: the household's line


Facts = tuple[int, str, str, str, str, str, str, str]  # RowLines[:8]: row .. household_id
TABLES = ("person", "membership", "identifiers", "event")
ROW: Final = 0  # positions in Facts
CLIENT_REF: Final = 1
HOUSEHOLD_REF: Final = 2
ROLE: Final = 3
AREA_CODE: Final = 4
PERSON_ID: Final = 5
BIRTH_DATE: Final = 6
HOUSEHOLD_ID: Final = 7


@dataclass
class ChunkOutput:
    """A validated chunk, packed to cross the process boundary cheaply: per valid row its facts, and
    per table one text of all the rows' lines with the offset where each row's part starts."""

    rows_seen: int  # non-blank rows
    errors: list[tuple[int, str, str]]  # (row, field, reason)
    facts: list[Facts]
    texts: dict[str, str]
    offsets: dict[str, array[int]]  # len(facts) + 1 offsets per table
    households: dict[int, str]  # row index -> household line, for heads' rows

    @classmethod
    def pack(cls, rows_seen: int, errors: list[tuple[int, str, str]], rows: list[RowLines]) -> ChunkOutput:
        texts: dict[str, str] = {}
        offsets: dict[str, array[int]] = {}
        for table, parts in zip(TABLES, ([r.person for r in rows], [r.membership for r in rows],
                                         [r.identifiers for r in rows], [r.event for r in rows]), strict=True):
            texts[table] = "".join(parts)
            offsets[table] = array("q", accumulate(map(len, parts), initial=0))
        heads = {i: r.household for i, r in enumerate(rows) if r.household is not None}
        return cls(rows_seen, errors, [r[:8] for r in rows], texts, offsets, heads)  # type: ignore[misc]

    def piece(self, table: str, index: int) -> str:
        at = self.offsets[table]
        return self.texts[table][at[index]:at[index + 1]]

    def runs(self, table: str, items: Iterable[int | str]) -> list[str]:
        """The text of ``items`` (a row index stands for that row's lines, a string for itself), with
        consecutive rows taken as one slice: a chunk that lands whole is one string per table."""
        at, text = self.offsets[table], self.texts[table]
        out: list[str] = []
        start = end = -1  # the run of rows [start, end) being gathered
        for item in items:
            if type(item) is int:
                if item == end:
                    end += 1
                    continue
                if start >= 0:
                    out.append(text[at[start]:at[end]])
                start, end = item, item + 1
            else:
                if start >= 0:
                    out.append(text[at[start]:at[end]])
                    start = end = -1
                out.append(item)  # type: ignore[arg-type]
        if start >= 0:
            out.append(text[at[start]:at[end]])
        return out


class SheetUnreadable(Exception):
    """The chunk is not UTF-8 or not CSV; the message is the problem's detail."""


class _Builder:
    """Per import and process: the validator, the id generator and the identifier keys."""

    def __init__(self, context: ImportContext) -> None:
        self.context = context
        self.validator = RowValidator(context.import_area, list(context.scopes), set(context.known_areas),
                                      today=context.today)
        self.columns = [(i, k) for i, k in enumerate(context.keys) if k is not None]  # the named ones
        # A cell past the last named column is an error.  Not len(keys): a workbook pads its header
        # row with empty cells to the sheet's widest row, which would hide such cells.
        self.width = self.columns[-1][0] + 1 if self.columns else 0
        self.new_id = TimeOrderedIds().next
        self.households: dict[str, str] = {}
        self.encrypt = FernetWriter(context.encryption_key).encrypt
        self.lookup_mac = KeyedSha256(context.hmac_key.encode()).hexdigest
        actor = copy_text(context.actor)
        self.tail = f"\t{actor}\t{actor}\n"  # created_by, updated_by
        self.household_tail = f"\t{context.job_id}\t{actor}\t{actor}\t{actor}\n"  # import_id, collected_by, ...
        self.by = f"\t{actor}\n"
        self.job = context.job_id
        self.envelope_head = {"type": PersonRegistered.subject, "source": "registry",
                              "occurred_at": context.occurred_at, "request_id": context.request_id}

    def lookup_hash(self, id_type: str, match_key: str) -> str:
        """``identifiers.lookup_hash`` with the key set up once."""
        return self.lookup_mac(f"{id_type}:{match_key}".encode())

    def lines(self, row: ValidRow) -> RowLines:
        hid = self.households.get(row.household_ref)
        if hid is None:
            hid = self.households[row.household_ref] = household_id(
                self.context.household_prefix, self.job, row.row, row.household_ref)
        person_id, membership_id, event_id = self.new_id(), self.new_id(), self.new_id()
        birth = row.birth_date.isoformat() if row.birth_date else None
        phones = "{" + ",".join(row.phones) + "}"  # E.164: digits and +, nothing to quote
        person = "\t".join((
            person_id, copy_text(row.client_ref), row.area_code, copy_text(row.full_name), copy_text(row.name_latin),
            copy_text(row.name_key), row.sex, birth or "\\N", _flag(row.birth_date_estimated),
            copy_text(row.birth_date_source), _number(row.birth_year), copy_text(row.father_name),
            copy_text(row.mother_name), copy_text(row.spouse_name), copy_text(row.father_key),
            copy_text(row.mother_key),
            copy_text(row.disability), _flag(row.pregnant), copy_text(row.occupation), phones,
            copy_text(row.preferred_language), self.job, str(row.row),
        )) + self.tail
        membership = f"{membership_id}\t{hid}\t{person_id}\t{row.role}" + self.by
        types = [i.id_type.value for i in row.identifiers]
        hashes = [self.lookup_hash(id_type, i.match_key) for id_type, i in zip(types, row.identifiers, strict=True)]
        identifiers = "".join(
            "\t".join((self.new_id(), person_id, id_type, i.form, digest,
                       self.encrypt(i.value), copy_text(i.last4), _number(i.birth_year))) + self.by
            for id_type, i, digest in zip(types, row.identifiers, hashes, strict=True)
        )
        household = None
        if row.role == "head":
            household = "\t".join((
                hid, copy_text(row.household_ref), row.area_code, copy_text(row.address),
                copy_text(row.address_local), _number(row.latitude), _number(row.longitude),
            )) + self.household_tail
        return RowLines(
            row.row, row.client_ref, row.household_ref, row.role, row.area_code, person_id, birth or "~", hid,
            person, membership, identifiers, self.event_line(event_id, row, person_id, hid, birth, types, hashes),
            household,
        )

    def event_line(self, event_id: str, row: ValidRow, person_id: str, household_id: str, birth: str | None,
                   id_types: list[str], id_hashes: list[str]) -> str:
        """The ``registry.person.registered.v1`` envelope, field for field what ``events.person_registered`` sends."""
        data = {
            "person_id": person_id, "household_id": household_id, "area_code": row.area_code,
            "full_name": row.full_name, "sex": row.sex, "birth_date": birth,
            "birth_date_estimated": row.birth_date_estimated, "birth_year": row.birth_year,
            "disability": row.disability, "pregnant": row.pregnant, "marital_status": None, "phones": row.phones,
            "preferred_language": row.preferred_language, "status": "active",
            "identifier_types": sorted(id_types), "identifier_hashes": sorted(id_hashes), "version": 1,
        }
        # entity and entity_version as envelope_for() gives them (Event.ordering()): ordered consumers
        # compare an imported person's version 1 with later interactive changes, across the two streams.
        envelope = orjson.dumps({"id": event_id, **self.envelope_head, "entity": f"person:{person_id}",
                                 "entity_version": 1, "data": data}).decode()
        return batch_line(event_id, PersonRegistered.subject, envelope) + "\n"


_builders: dict[str, _Builder] = {}


def _builder(context: ImportContext) -> _Builder:
    """One builder per import in this process (a fresh id generator per import keeps its ids in one range)."""
    found = _builders.get(context.job_id)
    if found is None or found.context != context:
        _builders.clear()
        found = _builders[context.job_id] = _Builder(context)
    return found


# What a row reader returns for a row with values beyond the last named column (compared by identity).
_EXTRA_CELLS: Final[dict[str, Any]] = {}


def _cells_reader(builder: _Builder) -> Callable[[list[Any]], dict[str, Any] | None]:
    """{column key: cell} of a row of typed cells (XLSX); None for a blank row."""
    columns, width = builder.columns, builder.width

    def read(cells: list[Any]) -> dict[str, Any] | None:
        if not any(c is not None and c != "" for c in cells):
            return None  # blank rows between households are common in hand-made sheets
        if len(cells) > width and any(c is not None and c != "" for c in cells[width:]):
            return _EXTRA_CELLS
        return {k: cells[i] for i, k in columns if i < len(cells)}

    return read


def _text_reader(builder: _Builder) -> Callable[[list[str]], dict[str, str | None] | None]:
    """{column key: stripped cell or None} of a CSV record, whose cells are all strings: stripped
    once, straight into the dict the validator reads (``RowValidator.validate_text``)."""
    columns, width = builder.columns, builder.width

    def read(cells: list[str]) -> dict[str, str | None] | None:
        if not any(cells):
            return None
        count = len(cells)
        if count > width and any(cells[width:]):
            return _EXTRA_CELLS
        return {k: cells[i].strip() or None for i, k in columns if i < count}

    return read


def process_cells(context: ImportContext, rows: list[tuple[int, list[Any]]]) -> ChunkOutput:
    """Validate rows of cells (an XLSX sheet's typed cells)."""
    builder = _builder(context)
    return _process(builder, rows, _cells_reader(builder), builder.validator.validate)


def process_text(context: ImportContext, first_row: int, text: str) -> ChunkOutput:
    """Validate a chunk of whole CSV records (cut at record boundaries by ``imports_files``)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=context.delimiter)
    try:
        rows = list(enumerate(reader, start=first_row))
    except csv.Error as exc:
        raise SheetUnreadable(f"The CSV cannot be read near row {first_row + reader.line_num}: {exc}") from exc
    builder = _builder(context)
    return _process(builder, rows, _text_reader(builder), builder.validator.validate_text)


def _process(builder: _Builder, rows: list[tuple[int, Any]], read: Callable[[Any], Any],
             validate: Callable[[int, Any], ValidRow | list[RowError]]) -> ChunkOutput:
    """Read, validate and turn into lines every row of a chunk.

    The cyclic garbage collector is paused meanwhile: a chunk allocates hundreds of thousands of
    short-lived, acyclic objects (freed by reference counting) and the collector's passes over
    them cost ~8% of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        seen = 0
        valid: list[RowLines] = []
        errors: list[tuple[int, str, str]] = []
        for row_no, cells in rows:
            values = read(cells)
            if values is None:
                continue
            seen += 1
            if values is _EXTRA_CELLS:
                errors.append((row_no, "row", EXTRA_CELLS_REASON))
                continue
            result = validate(row_no, values)
            if type(result) is ValidRow:
                valid.append(builder.lines(result))
            else:
                errors.extend((e.row, e.field, e.reason) for e in result)  # type: ignore[union-attr]
        return ChunkOutput.pack(seen, errors, valid)
    finally:
        if enabled:
            gc.enable()
