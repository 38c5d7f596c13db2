"""A department's file: a report per row, the same file twice changes nothing, CSV and XLSX alike."""

from __future__ import annotations

import csv
import io

import asyncpg
from openpyxl import Workbook

from services.benefits.service.files import COLUMNS
from tests.benefits.conftest import THIS_MONTH, TODAY, WARD, apply, department_client, person_event

CSV = {"Content-Type": "text/csv"}


def sheet(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def row(ref: str, **cells: str) -> dict[str, str]:
    return {"scheme": "BD-OAA", "period": THIS_MONTH, "amount_minor": "60000", "currency": "BDT",
            "delivered_on": TODAY.isoformat(), "channel": "bank_transfer", "department_ref": ref, **cells}


async def count_entries(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM benefits.entry"))
    finally:
        await conn.close()


async def test_file_posted_twice_changes_nothing_and_reports_each_row(catalogue, session_factory, database_url):
    people = [person_event(nid=f"1950269876543{i:04d}") for i in range(3)]
    await apply(session_factory, *people)
    rows = [row("F-1", person_id=str(people[0].person_id)),
            row("F-2", id_type="bd_nid", id_value="269876543" + "0001"),  # the 13-digit form of person 1's NID
            row("F-3", person_id=str(people[2].person_id), amount_minor="12.5"),  # fractional: refused
            row("F-4", person_id=str(people[2].person_id), period="2026/11"),
            row("F-5", id_type="bd_nid", id_value="2698765439999", area_code=WARD),  # unknown: held
            row("F-6", person_id=str(people[0].person_id))]  # the same person again this month: held
    body = sheet(rows)
    first = await catalogue.post("/files?department=BD-DSS&file_name=nov.csv", content=body,
                                 headers=department_client() | CSV)
    assert first.status_code == 201, first.text
    report = first.json()
    assert (report["rows_total"], report["accepted"], report["held"], report["rejected"]) == (6, 2, 2, 2)
    by_row = {r["row"]: r for r in report["report"]}
    assert by_row[4]["status"] == "rejected" and by_row[4]["errors"][0]["field"] == "amount_minor"
    assert by_row[5]["errors"][0]["field"] == "period"
    assert by_row[6]["status"] == "held" and by_row[7]["status"] == "held"
    entries = await count_entries(database_url)
    again = await catalogue.post("/files?department=BD-DSS&file_name=nov-copy.csv", content=body,
                                 headers=department_client() | CSV)
    assert again.status_code == 200 and again.json()["repeated"] is True and again.json()["id"] == report["id"]
    assert await count_entries(database_url) == entries == 4
    # A corrected file with the same references: the rows already posted are "repeated", only the fixed ones land.
    fixed = sheet([*rows[:2], row("F-3", person_id=str(people[2].person_id))])
    third = (await catalogue.post("/files?department=BD-DSS", content=fixed, headers=department_client() | CSV)).json()
    assert (third["repeated_rows"], third["accepted"]) == (2, 1)
    csv_report = await catalogue.get(f"/files/{report['id']}/report.csv", headers=department_client())
    assert csv_report.status_code == 200 and "amount_minor" in csv_report.text


async def test_xlsx_file_and_a_bad_header(catalogue, session_factory):
    person = person_event()
    await apply(session_factory, person)
    book = Workbook()
    ws = book.active
    ws.append(list(COLUMNS))
    cells = row("X-1", person_id=str(person.person_id))
    ws.append([cells.get(c, "") for c in COLUMNS])
    buf = io.BytesIO()
    book.save(buf)
    r = await catalogue.post("/files?department=BD-DSS&file_name=nov.xlsx", content=buf.getvalue(),
                             headers=department_client() | {"Content-Type": "application/octet-stream"})
    assert r.status_code == 201 and r.json()["accepted"] == 1, r.text
    bad = await catalogue.post("/files?department=BD-DSS", content=b"who,what\nx,y\n", headers=department_client() | CSV)
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} >= {"header.scheme", "header.who"}
