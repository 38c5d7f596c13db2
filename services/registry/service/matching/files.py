"""File mode: ``gramsetu registry match FILE.csv --out pairs.csv [--threshold P]``.

Reads the CSV (columns of ``rules.matching.table.COLUMNS``; any may be empty or missing; names in
Bengali, Devanagari or Latin script), matches every record against every other through the blocking
rules, and writes ``id_l,id_r,match_probability`` for each pair at or above the threshold that the
clustering kept (a pair that would chain two people the matcher found different is left out), in
file order.  The m/u parameters are learned from the file itself by EM (a file under 2,000 records
is too small for that and is scored with the packaged default).  Nothing touches the database.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from pathlib import Path
from typing import TextIO

import numpy as np

from services.registry.rules.matching.cluster import clusters, consistent
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD, MatchResult, match
from services.registry.rules.matching.table import COLUMNS, RecordTable, TableBuilder
from services.registry.service.matching.models import MIN_RECORDS_FOR_EM, default_model

Step = Callable[[str, int, int | None], None]  # (phase, done, total)


class MatchFileError(ValueError):
    """The file cannot be matched (no record_id column, duplicate record ids)."""


@dataclass
class FileMatch:
    records: int
    pairs_written: int  # pairs at or above the threshold that join two records of one cluster
    persons: int  # clusters, singletons included
    comparisons: int
    per_rule: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    result: MatchResult | None = None
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    set_apart: int = 0  # pairs at or above the threshold the clustering's guard refused (not written)


READ_CHUNK = 50_000  # rows parsed by csv.reader, then taken column by column
READ_CHARS = 8_000_000  # characters read at a time (then to the end of the line) on the fast path

Columns = list[Sequence[str]]


def _csv_chunks(reader: Iterator[list[str]], width: int) -> Iterator[tuple[Columns, int]]:
    while rows := list(islice(reader, READ_CHUNK)):
        rows = [r if len(r) == width else (r + [""] * width)[:width] for r in rows]
        yield list(zip(*rows, strict=True)), len(rows)


def _chunks(fh: TextIO, width: int) -> Iterator[tuple[Columns, int]]:
    """The rows after the header, column by column, a chunk at a time.  A chunk without quotes, whose
    lines all have ``width`` fields, is split on newlines and commas by ``str.split`` (in C, one list per
    chunk, each column a slice of it): at 200,000 records csv.reader and turning its rows into columns
    took 1.3 s of CPU, the split 0.3 s.  Anything else (quotes, a lone carriage return, a short or long or
    blank line) goes through csv.reader, with the same result: a file's first quote hands the rest of the
    file to csv.reader (a quoted field may hold a newline); other chunks are read by it line by line."""
    while text := fh.read(READ_CHARS):
        text += fh.readline()  # to the end of the line
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if '"' in text or "\r" in text:
            yield from _csv_chunks(csv.reader(chain(io.StringIO(text, newline=""), fh)), width)
            return
        lines = text.split("\n")
        if not lines[-1]:
            lines.pop()  # the newline ending the chunk
        if any(commas != width - 1 for commas in map(str.count, lines, repeat(","))):
            yield from _csv_chunks(csv.reader(lines), width)
            continue
        fields = ",".join(lines).split(",")
        yield [fields[i::width] for i in range(width)], len(lines)


def read_table(path: Path, step: Step | None = None, total: int | None = None) -> RecordTable:
    builder = TableBuilder()
    with path.open(newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        header = [h.strip() for h in next(csv.reader(chain([first], fh)), [])]  # a header may be quoted too
        if "record_id" not in header:
            raise MatchFileError(f"{path}: the header needs a record_id column (columns: {', '.join(COLUMNS)})")
        wanted = [(i, name) for i, name in enumerate(header) if name in COLUMNS]
        done = 0
        for by_column, count in _chunks(fh, len(header)):
            builder.extend_columns({name: list(map(str.strip, by_column[i])) for i, name in wanted}, count)
            done += count
            if step:
                step("reading", done, total)
    table = builder.build()
    if len(set(table.ids)) != len(table.ids):
        raise MatchFileError(f"{path}: record_id values must be unique")
    if step:
        step("reading", len(table), len(table))
    return table


def match_file(source: Path, out: Path, *, threshold: float = DEFAULT_THRESHOLD, step: Step | None = None,
               total_rows: int | None = None, workers: int = 1) -> FileMatch:
    """``workers``: processes comparing (and learning) side by side (``gramsetu registry match`` uses the
    machine's cores, up to 2)."""
    start, cpu = time.perf_counter(), time.process_time()
    table = read_table(source, step, total_rows)
    read_seconds, read_cpu = time.perf_counter() - start, time.process_time() - cpu
    model = default_model() if len(table) < MIN_RECORDS_FOR_EM else None  # else learned from the file itself
    result = match(table, threshold=threshold, model=model, workers=workers,
                   progress=(lambda d, t: step("comparing", d, t)) if step else None)
    start, cpu = time.perf_counter(), time.process_time()
    blocked = result.blocked
    # Every compared pair goes to the clustering: its guard needs the clear non-matches (A and C found
    # to be two people) to refuse a chain A~B~C.  A link the guard refused is not written.
    labels = clusters(len(table), blocked.left, blocked.right, result.probability, threshold=threshold)
    above = np.nonzero(result.above(threshold))[0]
    keep = above[consistent(labels, blocked.left[above], blocked.right[above])]
    cluster_seconds, cluster_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    written = write_pairs(out, table, blocked.left[keep], blocked.right[keep], result.probability[keep])
    seconds = {"reading": read_seconds, **result.seconds, "clustering": cluster_seconds,
               "writing": time.perf_counter() - start}
    cpu_seconds = {"reading": read_cpu, **result.cpu_seconds, "clustering": cluster_cpu,
                   "writing": time.process_time() - cpu}
    return FileMatch(len(table), written, len(np.unique(labels)), blocked.comparisons, blocked.per_rule, seconds,
                     result, cpu_seconds, set_apart=len(above) - len(keep))


def write_pairs(out: Path, table: RecordTable, left: np.ndarray, right: np.ndarray, prob: np.ndarray) -> int:
    """Pairs in file order of their first record, then of the second (left < right already)."""
    order = np.lexsort((right, left))
    ids = table.ids
    with out.open("w", newline="", encoding="utf-8") as fh:
        fh.write("id_l,id_r,match_probability\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerows((ids[left[k]], ids[right[k]], f"{prob[k]:.6f}") for k in order)
    return len(order)
