"""A department's file: staged and posted by a job with its progress over HTTP, an outcome per row (paged),
the same file twice changes nothing, CSV and XLSX alike; ``gramsetu benefits post`` does the same from the
command line with a progress bar."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from openpyxl import Workbook

from kernel.scheduler import ManualClock
from kernel.settings import Settings
from services.benefits.service import files as files_service
from services.benefits.service.files import COLUMNS
from services.benefits.settings import get_benefits_settings
from tests.benefits.conftest import THIS_MONTH, TODAY, WARD, add_catalogue, apply, department_client, person_event
from tests.conftest import start_service

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


async def posted(client: Any, response: Any, timeout: float = 60) -> dict[str, Any]:
    """Poll the file the 202 named until its job has posted every row."""
    assert response.status_code == 202, response.text
    location = response.headers["Location"].removeprefix("/benefits")
    deadline = time.monotonic() + timeout
    while True:
        body = (await client.get(location, headers=department_client())).json()
        if body["status"] == "done" or time.monotonic() > deadline:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)


async def problem_rows(client: Any, file_id: str) -> dict[int, dict[str, Any]]:
    page = (await client.get(f"/files/{file_id}/rows?status=rejected&status=held&limit=2",
                             headers=department_client())).json()
    rows = list(page["items"])
    while page["next"]:
        page = (await client.get(page["next"].removeprefix("/benefits"), headers=department_client())).json()
        rows += page["items"]
    return {r["row"]: r for r in rows}


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
    report = await posted(catalogue, first)
    assert report["status"] == "done" and report["percent_done"] == 100.0
    assert (report["rows_total"], report["accepted"], report["held"], report["rejected"]) == (6, 2, 2, 2)
    by_row = await problem_rows(catalogue, report["id"])  # paged two at a time, only the problems
    assert sorted(by_row) == [4, 5, 6, 7]
    assert by_row[4]["status"] == "rejected" and by_row[4]["errors"][0]["field"] == "amount_minor"
    assert by_row[5]["errors"][0]["field"] == "period"
    assert by_row[6]["status"] == "held" and by_row[7]["status"] == "held" and by_row[7]["flags"]
    entries = await count_entries(database_url)
    again = await catalogue.post("/files?department=BD-DSS&file_name=nov-copy.csv", content=body,
                                 headers=department_client() | CSV)
    assert again.status_code == 200 and again.json()["repeated"] is True and again.json()["id"] == report["id"]
    assert await count_entries(database_url) == entries == 4
    # A corrected file with the same references: the rows already posted are "repeated", only the fixed ones land.
    fixed = sheet([*rows[:2], row("F-3", person_id=str(people[2].person_id))])
    third = await posted(catalogue, await catalogue.post("/files?department=BD-DSS", content=fixed,
                                                         headers=department_client() | CSV))
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
    assert (await posted(catalogue, r))["accepted"] == 1
    bad = await catalogue.post("/files?department=BD-DSS", content=b"who,what\nx,y\n", headers=department_client() | CSV)
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} >= {"header.scheme", "header.who"}


@pytest.fixture
async def idle(clean: None, settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    """The service without its background workers: the test runs the scheduler's passes itself."""
    from services.benefits.app import create_app

    async for client in start_service(create_app, settings, clock=clock, workers=False):
        yield await add_catalogue(client)


async def test_progress_is_visible_over_http_while_the_job_posts_the_file(idle, session_factory, monkeypatch):
    people = [person_event() for _ in range(6)]
    await apply(session_factory, *people)
    monkeypatch.setattr(get_benefits_settings(), "file_chunk_rows", 2)
    monkeypatch.setattr(files_service, "STEP_SECONDS", 0.0)  # one chunk per job run
    r = await idle.post("/files?department=BD-DSS&file_name=dec.csv", headers=department_client() | CSV,
                        content=sheet([row(f"P-{i}", person_id=str(p.person_id)) for i, p in enumerate(people)]))
    assert r.status_code == 202 and r.headers["Location"] == f"/benefits/files/{r.json()['id']}"
    location = f"/files/{r.json()['id']}"

    async def state() -> tuple[str, int, int, float]:
        body = (await idle.get(location, headers=department_client())).json()
        return body["status"], body["rows_done"], body["accepted"], body["percent_done"]

    assert await state() == ("queued", 0, 0, 0.0)
    scheduler = idle.app.state.runtime.scheduler  # type: ignore[attr-defined]
    assert await scheduler.run_due() == 1  # one pass: one run of the job, one chunk committed
    assert await state() == ("processing", 2, 2, 33.3)
    pending = (await idle.get(f"{location}/rows?limit=10", headers=department_client())).json()["items"]
    assert [x["status"] for x in pending] == ["accepted", "accepted", None, None, None, None]
    await scheduler.run_due()
    assert await state() == ("processing", 4, 4, 66.7)
    await scheduler.run_due()
    assert await state() == ("done", 6, 6, 100.0)
    assert await scheduler.run_due() == 0  # the job is gone


async def gramsetu(database_url: str, *args: str) -> tuple[int, str, str]:
    """The real ``gramsetu`` command in a child process, pointed at the test database."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gramsetu.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "GRAMSETU_DATABASE_URL": database_url, "GRAMSETU_NATS_URL": "nats://127.0.0.1:1",
             "GRAMSETU_BENEFITS_FILE_CHUNK_ROWS": "2", "COLUMNS": "160"})
    out, errors = await proc.communicate()
    return proc.returncode or 0, out.decode(), errors.decode()


async def test_gramsetu_benefits_post_posts_a_file_with_a_bar_and_a_report(catalogue, session_factory, database_url,
                                                                          tmp_path):
    people = [person_event() for _ in range(4)]
    await apply(session_factory, *people)
    path = tmp_path / "dss-december.csv"
    path.write_bytes(sheet([*(row(f"C-{i}", person_id=str(p.person_id)) for i, p in enumerate(people)),
                            row("C-4", person_id=str(people[0].person_id)),  # the same person again: held
                            row("C-5", person_id=str(people[1].person_id), period="2026/12")]))  # refused
    code, out, errors = await gramsetu(database_url, "benefits", "post", str(path), "--department", "bd-dss",
                                       "--as", "uso.tala")
    assert code == 0, out + errors
    assert "posting" in out and "6/6" in out  # the bar, at its end
    summary = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines()
               if line.count("│") == 3 and line.split("│")[2].strip().isdigit()}
    assert summary == {"rows total": "6", "accepted": "4", "held": "1", "rejected": "1", "repeated": "0"}, out
    assert "held for review" in out and "period" in out  # the rows a clerk must look at, with the field
    conn = await asyncpg.connect(database_url)
    try:
        file_id = str(await conn.fetchval("SELECT id FROM benefits.posting_file"))
    finally:
        await conn.close()
    assert file_id[:8] in out  # the report's title names the file
    state = (await catalogue.get(f"/files/{file_id}", headers=department_client())).json()
    assert (state["status"], state["rows_done"], state["accepted"], state["held"]) == ("done", 6, 4, 1)
    entries = (await catalogue.get("/entries?scheme=BD-OAA", headers=department_client())).json()
    assert entries["total"] == 5 and {e["recorded_by"] for e in entries["items"]} == {"uso.tala"}

    code, out, _ = await gramsetu(database_url, "benefits", "post", str(path), "--department", "BD-DSS")
    words = " ".join(out.split())  # the report's title wraps at the table's width
    assert code == 0 and "(posted before; nothing done)" in words and file_id[:8] in out, out
    assert await count_entries(database_url) == 5

    path.write_text("who,what\nx,y\n")
    code, out, errors = await gramsetu(database_url, "benefits", "post", str(path), "--department", "BD-DSS")
    assert code == 1 and "header" in errors.lower(), out + errors
    assert "Traceback" not in errors
