"""Import files: receive (size-limited, hashed), read CSV or XLSX row by row, write the template.

Files are read as streams: CSV through ``csv.reader`` over the text, XLSX through openpyxl's
read-only mode (rows are parsed as they are iterated), so memory does not grow with the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kernel.errors import Problem, ValidationProblem
from services.registry.rules.imports import LANGUAGES, map_headers, template_headers

XLSX_MAGIC = b"PK\x03\x04"
SPOOL_BYTES = 4 * 1024 * 1024  # kept in memory below this, on disk above
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PayloadTooLarge(Problem):
    status, type_slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(Problem):
    status, type_slug, title = 415, "unsupported-media-type", "Unsupported media type"


@dataclass
class ReceivedFile:
    file: IO[bytes]
    sha256: str
    size: int
    format: str  # csv or xlsx


def too_large(limit: int) -> PayloadTooLarge:
    megabytes = limit // (1024 * 1024)
    return PayloadTooLarge(f"The file is larger than the {megabytes} MB limit; split it", limit_bytes=limit)


async def receive(chunks: AsyncIterator[bytes], limit: int | None) -> ReceivedFile:
    """Spool an upload, hashing as it arrives; stop reading as soon as it passes ``limit``."""
    digest = hashlib.sha256()
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if limit is not None and size > limit:
                raise too_large(limit)
            digest.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    return _finish(spool, digest.hexdigest(), size)


def open_path(path: Path, limit: int | None = None) -> ReceivedFile:
    """A file on disk (CLI, demo loader, benchmark): hashed, not copied."""
    size = path.stat().st_size
    if limit is not None and size > limit:
        raise too_large(limit)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return _finish(path.open("rb"), digest.hexdigest(), size)


def _finish(file: IO[bytes], sha256: str, size: int) -> ReceivedFile:
    if size == 0:
        file.close()
        raise ValidationProblem("The file is empty", errors=[{"field": "body", "reason": "empty file"}])
    file.seek(0)
    magic = file.read(4)
    file.seek(0)
    return ReceivedFile(file=file, sha256=sha256, size=size, format="xlsx" if magic == XLSX_MAGIC else "csv")


@dataclass
class Sheet:
    """Canonical column keys (per position) and the rows after the header: an XLSX sheet as rows of
    cells (``cells``), a CSV as text cut into chunks of whole records (``blocks``).  Blank rows are
    included; turning cells into values is left to the validating workers (``imports_rows``)."""

    keys: list[str | None]
    delimiter: str
    close: Any
    cells: Iterator[tuple[int, list[Any]]] | None = None
    text: IO[str] | None = None

    def blocks(self, rows: int) -> Iterator[tuple[int, str]]:
        """(first row number, text of up to ``rows`` whole CSV records).

        csv.reader pulls one physical line at a time and stops at the end of a record, so the
        lines it has taken when a record comes out are exactly that record's lines, quoted line
        breaks included: the chunks are cut where the reader cuts records."""
        assert self.text is not None
        taken: list[str] = []

        def lines() -> Iterator[str]:
            for line in self.text:  # type: ignore[union-attr]
                taken.append(line)
                yield line

        reader = csv.reader(lines(), delimiter=self.delimiter)
        first = row = 2
        try:
            for _ in reader:
                row += 1
                if row - first == rows:
                    yield first, "".join(taken)
                    taken.clear()
                    first = row
        except UnicodeDecodeError as exc:
            raise ValidationProblem("The file is not UTF-8 text after the header row") from exc
        except csv.Error as exc:
            raise ValidationProblem(f"The CSV cannot be read near row {row}: {exc}") from exc
        if taken:
            yield first, "".join(taken)


def open_sheet(received: ReceivedFile) -> Sheet:
    """Read the header row and check the columns: 422 naming missing, unknown or repeated ones."""
    if received.format == "xlsx":
        header, cells, close = _xlsx_rows(received.file)
        sheet = Sheet(keys=[], delimiter=",", close=close, cells=cells)
    else:
        header, delimiter, text = _csv_header(received.file)
        sheet = Sheet(keys=[], delimiter=delimiter, close=text.close, text=text)
    keys, problem = map_headers(header)
    if problem:
        sheet.close()
        parts = []
        if problem.missing:
            parts.append(f"missing: {', '.join(problem.missing)}")
        if problem.unknown:
            parts.append(f"unknown: {', '.join(problem.unknown)}")
        if problem.repeated:
            parts.append(f"repeated: {', '.join(problem.repeated)}")
        raise ValidationProblem(
            "The sheet's columns do not match the import template (" + "; ".join(parts) + ")",
            errors=[{"field": f"column.{c}", "reason": "missing"} for c in problem.missing]
            + [{"field": f"column.{c}", "reason": "unknown"} for c in problem.unknown]
            + [{"field": f"column.{c}", "reason": "repeated"} for c in problem.repeated],
            missing_columns=problem.missing,
            unknown_columns=problem.unknown,
            repeated_columns=problem.repeated,
        )
    sheet.keys = keys
    return sheet


def _csv_header(file: IO[bytes]) -> tuple[list[Any], str, IO[str]]:
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        first = text.readline()
    except UnicodeDecodeError as exc:
        text.close()
        raise ValidationProblem("The file is neither UTF-8 CSV nor XLSX") from exc
    delimiter = max((",", ";", "\t"), key=first.count)
    header = next(csv.reader([first], delimiter=delimiter), [])
    return header, delimiter, text


def _xlsx_rows(file: IO[bytes]) -> tuple[list[Any], Iterator[tuple[int, list[Any]]], Any]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        file.close()
        raise ValidationProblem("The file looks like XLSX but cannot be opened as a workbook") from exc
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = list(next(rows, ()))

    def close() -> None:
        workbook.close()
        file.close()

    def body() -> Iterator[tuple[int, list[Any]]]:
        for index, cells in enumerate(rows, start=2):
            yield index, list(cells)

    return header, body(), close


# ---------------------------------------------------------------- the template


def check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValidationProblem(
            f"lang must be one of {', '.join(LANGUAGES)}", errors=[{"field": "lang", "reason": "unknown language"}]
        )
    return lang


def template_csv(lang: str, examples: list[dict[str, str]] | None = None) -> bytes:
    """The template as UTF-8 CSV with a byte-order mark (so spreadsheet programs read Bengali/Hindi)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(template_headers(lang))
    keys = template_headers("en")
    for example in examples or []:
        writer.writerow([example.get(k, "") for k in keys])
    return ("\ufeff" + out.getvalue()).encode()


def template_xlsx(lang: str, examples: list[dict[str, str]] | None = None) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("survey")
    sheet.append(template_headers(lang))
    keys = template_headers("en")
    for example in examples or []:
        sheet.append([example.get(k) or None for k in keys])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
