"""``gramsetu registry match FILE.csv --out pairs.csv``: anyone can run the matcher on a file."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from gramsetu.cli import app
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD
from services.registry.rules.matching.table import COLUMNS, RecordTable, TableBuilder
from services.registry.service.matching import files as files_module
from services.registry.service.matching.files import match_file, read_table

ROOT = Path(__file__).resolve().parents[2]

ROWS = [
    {"record_id": "a1", "given_name": "রোকেয়া", "family_name": "বেগম", "guardian_name": "আব্দুল করিম",
     "guardian_relation": "father", "sex": "female", "dob": "1984-02-11", "area_code": "BD-40-87-90-54-08",
     "phone": "01712345678", "nid": "8255001146192"},
    {"record_id": "b7", "given_name": "Mst. Rokeya", "family_name": "Bibi", "guardian_name": "Abdul Karim",
     "guardian_relation": "father", "sex": "F", "age_estimate": "40", "registered_on": "2024-05-01",
     "area_code": "BD-40-87-90-54-07", "phone": "+880 1712-345678", "nid": "19848255001146192"},
    {"record_id": "c3", "given_name": "Rokeya", "family_name": "Begum", "guardian_name": "Nurul Islam",
     "guardian_relation": "father", "sex": "female", "dob": "1961-07-01", "area_code": "BD-40-87-90-54-08"},
]


def _write(path: Path, rows: list[dict[str, str]], header: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)


def test_match_writes_the_pairs_at_or_above_the_threshold(tmp_path: Path) -> None:
    source, out = tmp_path / "people.csv", tmp_path / "pairs.csv"
    _write(source, ROWS, ["record_id", "given_name", "family_name", "guardian_name", "guardian_relation", "sex",
                          "dob", "birth_year", "age_estimate", "registered_on", "area_code", "phone", "aadhaar",
                          "nid", "brn"])
    result = CliRunner().invoke(app, ["registry", "match", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        pairs = list(csv.DictReader(fh))
    assert [(p["id_l"], p["id_r"]) for p in pairs] == [("a1", "b7")]
    assert float(pairs[0]["match_probability"]) >= DEFAULT_THRESHOLD
    assert "comparisons" in result.output


def test_a_file_without_record_ids_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    _write(source, [{"given_name": "Rokeya"}], ["given_name"])
    result = CliRunner().invoke(app, ["registry", "match", str(source), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "record_id" in result.output


_TWO_PROCESS_CHECK = """
import numpy as np
from services.registry.rules.matching import engine
from services.registry.rules.matching.table import build_table
from tests.registry.matching_truth import generate

table = build_table(generate(3_000, 5).rows)
engine.CHUNK = 4_000  # several parts, so the pool's order matters
one, two = engine.match(table, workers=1), engine.match(table, workers=2)
assert "comparing and learning" in two.seconds and two.blocked.comparisons > 4 * 4_000
assert np.array_equal(one.patterns, two.patterns)
assert one.model.to_json() == two.model.to_json()
assert np.array_equal(one.probability, two.probability)
print("same")
"""


def test_two_worker_processes_give_exactly_the_one_process_result() -> None:
    # In a fresh interpreter, as the command line runs it: the engine forks its workers, and a fork of
    # a pytest worker that earlier tests left with threads (a lock held at the fork) hung for 300 s.
    done = subprocess.run([sys.executable, "-c", _TWO_PROCESS_CHECK], cwd=ROOT, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0 and done.stdout.strip() == "same", done.stderr


def test_a_record_that_could_be_father_or_son_does_not_chain_them_into_one_person(tmp_path: Path) -> None:
    # Father and son share a name, a phone and a ward, a generation apart: the matcher finds them two people.
    # A third record with only the name, the phone and the ward matches each of them above the threshold;
    # writing both pairs would make father and son one person through it.
    household = {"family_name": "Mondal", "sex": "male", "area_code": "BD-10-15-44-93-02", "phone": "01712345678",
                 "guardian_relation": "father"}
    rows = [
        {**household, "record_id": "father", "given_name": "Harun", "guardian_name": "Babul Mondal",
         "dob": "1958-02-02"},
        {**household, "record_id": "son", "given_name": "Harun", "guardian_name": "Harun Mondal", "dob": "1990-06-06"},
        {"record_id": "either", "given_name": "Md. Harun", "family_name": "Mondal", "sex": "male",
         "area_code": "BD-10-15-44-93-02", "phone": "+880 1712-345678"},
    ]
    source, out = tmp_path / "people.csv", tmp_path / "pairs.csv"
    _write(source, rows, ["record_id", "given_name", "family_name", "guardian_name", "guardian_relation", "sex",
                          "dob", "area_code", "phone"])
    result = match_file(source, out)
    with out.open(encoding="utf-8") as fh:
        pairs = {(p["id_l"], p["id_r"]) for p in csv.DictReader(fh)}
    matched = result.result
    assert matched is not None
    probability = {(matched.table.ids[a], matched.table.ids[b]): p for a, b, p in zip(
        matched.blocked.left, matched.blocked.right, matched.probability, strict=True)}
    assert probability[("father", "son")] < 0.05  # compared, and found to be two people
    assert probability[("father", "either")] >= DEFAULT_THRESHOLD <= probability[("son", "either")]
    assert pairs in ({("father", "either")}, {("son", "either")})  # one link kept, the chain refused
    assert result.persons == 2 and result.set_apart == 1


def _table_through_csv_reader(path: Path) -> RecordTable:
    """The table as the csv module alone reads the file (every row through csv.reader)."""
    builder = TableBuilder()
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    header = [h.strip() for h in rows[0]]
    for row in rows[1:]:
        row = (row + [""] * len(header))[: len(header)]
        builder.add({name: value.strip() for name, value in zip(header, row, strict=True) if name in COLUMNS})
    return builder.build()


def _same_table(a: RecordTable, b: RecordTable) -> bool:
    return (a.ids == b.ids and a.vocab.strings == b.vocab.strings and a.cols.keys() == b.cols.keys()
            and all(np.array_equal(a.cols[k], b.cols[k]) for k in a.cols))


def test_a_file_reads_the_same_however_it_is_quoted_broken_or_chunked(tmp_path: Path, monkeypatch: Any) -> None:
    # The reader splits plain chunks on commas itself and hands anything else to csv.reader; both ways,
    # and at any chunk size, a file must give the table the csv module alone gives.
    rows = [{"record_id": f"r{i}", "given_name": ("Md. Rahim" if i % 3 else "রহিম"), "family_name": "Uddin",
             "sex": "male", "dob": f"19{50 + i % 40}-01-0{1 + i % 9}", "area_code": f"BD-10-15-44-93-0{i % 4}",
             "phone": f"+880 1712-34{i:04d}", "household": str(i // 4)} for i in range(400)]
    plain = ",".join(COLUMNS) + "\n" + "".join(",".join(r.get(c, "") for c in COLUMNS) + "\n" for r in rows)
    lines = plain.splitlines()
    files = {
        "plain": plain,
        "crlf, no final newline": "\r\n".join(lines),
        "a blank line, a short one and a long one": "\n".join(
            [*lines[:50], "", *lines[50:90], lines[90].rsplit(",", 3)[0], lines[91] + ",extra", *lines[92:]]),
        "a quoted field with a comma and a newline late in the file": "\n".join(
            [*lines[:300], lines[300].replace("Uddin", '"Uddin, Jr\nSr"', 1), *lines[301:]]),
        "spaces and a byte-order mark": "\ufeff" + plain.replace(",male,", ", male ,"),
    }
    for name, text in files.items():
        path = tmp_path / "people.csv"
        path.write_text(text, encoding="utf-8", newline="")
        expected = _table_through_csv_reader(path)
        for chars in (files_module.READ_CHARS, 1_000):
            monkeypatch.setattr(files_module, "READ_CHARS", chars)
            assert _same_table(read_table(path), expected), (name, chars)
