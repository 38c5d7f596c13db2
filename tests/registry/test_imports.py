"""Bulk import: template, per-row report, no duplicates on re-upload, limits, area scope, events."""

from __future__ import annotations

import csv
import io
from typing import Any

import asyncpg
import pytest
from openpyxl import Workbook, load_workbook

from services.registry.demo.people import generate, write_csv
from services.registry.rules.imports import COLUMNS, REQUIRED_COLUMNS, template_headers
from tests.registry.conftest import IN_VILLAGE, OTHER_WARD, PURPOSE, WARD, aadhaar, bus_events, volunteer

CSV_TYPE = {"Content-Type": "text/csv"}


def sheet(rows: list[dict[str, Any]], lang: str = "en") -> bytes:
    out = io.StringIO()
    write_csv(out, iter(rows), lang)
    return out.getvalue().encode()


def person_row(ref: str, no: int, role: str, name: str, sex: str, area: str = WARD, **extra: Any) -> dict[str, Any]:
    return {"household_ref": ref, "member_no": str(no), "area_code": area, "address": "House 4, Uttar Para",
            "role": role, "full_name": name, "sex": sex, **extra}


async def upload(client: Any, body: bytes, area: str = WARD, headers: dict[str, str] | None = None,
                 content_type: dict[str, str] = CSV_TYPE) -> Any:
    return await client.post(f"/imports?area={area}&file_name=survey.csv", content=body,
                             headers=(headers or volunteer(area)) | content_type)


async def count(database_url: str, sql: str, *args: Any) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


@pytest.mark.parametrize("lang", ["en", "hi", "bn"])
async def test_template_headers_in_each_language_are_accepted(client, lang):
    r = await client.get(f"/imports/template.csv?lang={lang}", headers=volunteer())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    header = next(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert header == template_headers(lang)
    if lang != "en":
        assert header[0] == COLUMNS["household_ref"][("hi", "bn").index(lang)]
    r = await client.get(f"/imports/template.xlsx?lang={lang}", headers=volunteer())
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    assert [c for c in next(ws.iter_rows(values_only=True))] == template_headers(lang)
    # A sheet written with these column names imports.
    rows = [person_row(f"T-{lang}", 1, "head", "রহিম উদ্দিন", "male"),
            person_row(f"T-{lang}", 2, "spouse", "ফাতেমা বেগম", "female")]
    r = await upload(client, sheet(rows, lang))
    assert r.status_code == 201, r.text
    assert r.json()["persons_created"] == 2 and r.json()["rows_invalid"] == 0
    r = await client.get("/imports/template.csv?lang=fr", headers=volunteer())
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


async def test_mixed_file_lands_valid_rows_reports_invalid_ones_and_writes_events(client, database_url, nats_url):
    good = [person_row("HH-1", 1, "head", "আব্দুর রহিম", "male", birth_date="1970-03-01",
                       bd_nid="19702698765432101", phone="01712345678"),
            person_row("HH-1", 2, "spouse", "ফাতেমা বেগম", "female", pregnant="হ্যাঁ", birth_date="1990-01-01"),
            person_row("HH-1", 3, "child", "সুমি", "female", birth_date="2019-05-05", bd_brn="20194713220012345")]
    bad = [
        person_row("HH-1", 4, "child", "Karim", "male", bd_brn="1979091216610014"),  # 16-digit BRN
        person_row("HH-1", 5, "child", "Jamal", "male", pregnant="yes"),  # a pregnant male
        person_row("HH-1", 6, "child", "Nila", "female", birth_date="2015-01-01", bd_brn="20144713220012345"),
        person_row("HH-2", 1, "head", "", "male"),  # no name: the whole household goes
        person_row("HH-2", 2, "spouse", "Rokeya", "female"),
        person_row("HH-3", 1, "head", "A", "male"), person_row("HH-3", 2, "head", "B", "female"),  # two heads
        person_row("HH-4", 1, "sibling", "C", "alien"),
    ]
    r = await upload(client, sheet(good + bad))
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["rows_total"], job["rows_valid"], job["rows_invalid"]) == (11, 3, 8)
    assert job["persons_created"] == 3 and job["households_created"] == 1
    report = (await client.get(f"/imports/{job['id']}", headers=volunteer())).json()
    reasons = {(e["row"], e["field"]): e["reason"] for e in report["errors"]}
    assert "16-digit" in reasons[(5, "bd_brn")]
    assert "female" in reasons[(6, "pregnant")]
    assert "contradicts" in reasons[(7, "bd_brn")]  # DOB year 2015 vs prefix 2014
    assert reasons[(8, "full_name")] == "required"
    assert "no valid head" in reasons[(9, "role")]
    assert "exactly one head" in reasons[(10, "role")] and "exactly one head" in reasons[(11, "role")]
    assert "one of" in reasons[(12, "sex")]
    assert report["total_errors"] == len(report["errors"])
    csv_report = await client.get(f"/imports/{job['id']}/report.csv", headers=volunteer())
    assert csv_report.status_code == 200
    lines = list(csv.reader(io.StringIO(csv_report.text)))
    assert lines[0] == ["row", "field", "reason"] and ["5", "bd_brn"] == lines[1][:2]
    # The valid rows landed as a household with its head, searchable, IDs protected, events in the outbox.
    households = (await client.get(f"/households?area={WARD}", headers=volunteer())).json()["items"]
    assert len(households) == 1 and households[0]["member_count"] == 3
    found = await client.post("/persons/lookup", json={"type": "bd_nid", "value": "2698765432101"},
                              headers=volunteer() | PURPOSE)
    assert found.status_code == 200 and found.json()["items"][0]["phones"] == ["+8801712345678"]
    assert found.json()["items"][0]["role"] == "head"
    hits = await client.get(f"/persons/search?area={WARD}&name=Rahim", headers=volunteer() | PURPOSE)
    assert hits.json()["total"] == 1
    # Each record's history starts with its creation by this import (who, when, which sheet row).
    head_id = found.json()["items"][0]["id"]
    history = (await client.get(f"/persons/{head_id}/history", headers=volunteer() | PURPOSE)).json()["items"]
    assert [(h["action"], h["reason"], h["changes"]["import"]["to"]) for h in history] == [
        ("create", "bulk import", {"id": job["id"], "row": 2})]
    assert history[0]["changed_by"] == "volunteer-1"
    imported = await count(database_url, "SELECT count(*) FROM registry.household WHERE import_id = $1", job["id"])
    # The events went out through the outbox relay to JetStream.
    wanted = {"registry.household.created.v1", "registry.person.registered.v1"}
    events = [e for e in await bus_events(nats_url, database_url, wanted) if e.type in wanted]
    kinds = sorted(e.type for e in events)
    assert kinds == ["registry.household.created.v1"] + ["registry.person.registered.v1"] * 3
    typed = [e.event() for e in events]  # each payload validates against its contract
    # ... and carries its entity version, as envelope_for() would (ordered consumers compare it).
    assert [(e.entity, e.entity_version) for e in events] == [t.ordering() for t in typed]
    assert {e.entity_version for e in events} == {1}
    created = next(t for t in typed if type(t).__name__ == "HouseholdCreated")
    assert len(created.member_ids) == 3 and created.head_person_id is not None  # type: ignore[attr-defined]
    mother = next(t for t in typed if getattr(t, "full_name", "") == "ফাতেমা বেগম")
    assert mother.pregnant is True  # type: ignore[attr-defined]
    assert imported == 1


async def test_reupload_creates_no_duplicates(client, database_url, nats_url):
    rows = list(generate([WARD], households=6, seed=7))
    body = sheet(rows)
    first = await upload(client, body)
    assert first.status_code == 201, first.text
    assert first.json()["persons_created"] == len(rows) and first.json()["rows_invalid"] == 0
    again = await upload(client, body)
    assert again.status_code == 200 and again.json()["reused"] is True and again.json()["id"] == first.json()["id"]
    # An amended file (a new member, the rest unchanged) adds only the new row, to the existing household.
    ref = rows[0]["household_ref"]
    extra = person_row(ref, 9, "other_relative", "নতুন সদস্য", "male", area=rows[0]["area_code"])
    amended = await upload(client, sheet([*rows, extra]))
    assert amended.status_code == 201, amended.text
    out = amended.json()
    assert (out["persons_created"], out["persons_existing"], out["households_created"], out["households_updated"]) \
        == (1, len(rows), 0, 1)
    assert await count(database_url, "SELECT count(*) FROM registry.person") == len(rows) + 1
    assert await count(database_url, "SELECT count(*) FROM registry.household") == 6
    assert await count(database_url, "SELECT count(*) FROM registry.identifier") == sum(
        1 for r in rows for k in ("bd_nid", "bd_brn") if r.get(k))
    assert await count(database_url, "SELECT count(*) FROM registry.duplicate_candidate") == 0
    updated = [e for e in await bus_events(nats_url, database_url, {"registry.household.updated.v1"})
               if e.type == "registry.household.updated.v1"]
    assert len(updated) == 1 and len(updated[0].data["member_ids"]) == sum(r["household_ref"] == ref for r in rows) + 1


async def test_same_identifier_in_a_file_is_flagged_for_review(client, database_url):
    number = aadhaar(77)
    rows = [person_row("IN-1", 1, "head", "राम यादव", "male", area=IN_VILLAGE, aadhaar=number),
            person_row("IN-2", 1, "head", "श्याम यादव", "male", area=IN_VILLAGE, aadhaar=number)]
    r = await upload(client, sheet(rows), area=IN_VILLAGE)
    assert r.status_code == 201 and r.json()["duplicates_flagged"] == 1, r.text
    area = await count(database_url, "SELECT count(*) FROM registry.duplicate_candidate WHERE area_code = $1",
                       IN_VILLAGE)
    assert area == 1


async def test_xlsx_with_wrong_columns_is_422_naming_them(client):
    wb = Workbook()
    ws = wb.active
    ws.append(["household_ref", "पूरा नाम", "sex", "favourite colour"])
    ws.append(["H-1", "Rahim", "male", "blue"])
    buf = io.BytesIO()
    wb.save(buf)
    r = await upload(client, buf.getvalue(),
                     content_type={"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["unknown_columns"] == ["favourite colour"]
    assert set(body["missing_columns"]) == set(REQUIRED_COLUMNS) - {"household_ref", "full_name", "sex"}


async def test_valid_xlsx_imports_with_typed_cells(client):
    from datetime import datetime

    wb = Workbook()
    ws = wb.active
    ws.append(template_headers("bn"))
    keys = template_headers("en")
    row = person_row("X-1", 1, "head", "করিম", "পুরুষ", birth_date=datetime(1980, 5, 1))
    row["member_no"] = 1  # type: ignore[assignment]
    ws.append([row.get(k) for k in keys])
    buf = io.BytesIO()
    wb.save(buf)
    r = await upload(client, buf.getvalue(), content_type={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert r.json()["file_format"] == "xlsx" and r.json()["persons_created"] == 1


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
async def test_blank_rows_are_skipped_and_values_past_the_last_column_are_reported(client, file_format):
    keys = template_headers("en")
    head = [person_row("B-1", 1, "head", "Rahima", "female").get(k) for k in keys]
    extra = [*[person_row("B-2", 1, "head", "Salma", "female").get(k) for k in keys], "", "stray note"]
    rows: list[list[Any]] = [keys, head, [None] * len(keys), extra]  # rows 1-4: header, valid, blank, extra
    if file_format == "csv":
        out = io.StringIO()
        csv.writer(out).writerows([["" if v is None else v for v in r] for r in rows])
        body, content_type = out.getvalue().encode(), CSV_TYPE
    else:
        wb = Workbook()
        for r in rows:
            wb.active.append(r)
        buf = io.BytesIO()
        wb.save(buf)
        body, content_type = buf.getvalue(), {"Content-Type": "application/octet-stream"}
    r = await upload(client, body, content_type=content_type)
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["rows_total"], job["persons_created"], job["rows_invalid"]) == (2, 1, 1)
    report = (await client.get(f"/imports/{job['id']}", headers=volunteer())).json()
    assert [(e["row"], e["field"], e["reason"]) for e in report["errors"]] == [
        (4, "row", "values beyond the last named column")]


async def test_oversized_upload_is_413_before_reading(client, monkeypatch):
    monkeypatch.setenv("GRAMSETU_REGISTRY_IMPORT_MAX_BYTES", "1000")
    body = sheet(list(generate([WARD], households=40, seed=3)))
    assert len(body) > 1000
    r = await upload(client, body)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

    async def chunked():  # no Content-Length: stopped while streaming
        for i in range(0, len(body), 256):
            yield body[i:i + 256]

    r = await client.post(f"/imports?area={WARD}", content=chunked(), headers=volunteer() | CSV_TYPE)
    assert r.status_code == 413


async def test_50_mb_upload_is_refused(client):
    r = await upload(client, b"x" * (50 * 1024 * 1024 + 1))
    assert r.status_code == 413


async def test_rows_outside_the_callers_scope_are_rejected_per_row(client):
    rows = [person_row("S-1", 1, "head", "Rahim", "male"),
            person_row("S-2", 1, "head", "Karim", "male", area=OTHER_WARD),
            person_row("S-3", 1, "head", "Ram", "male", area=IN_VILLAGE),
            person_row("S-4", 1, "head", "Jodu", "male", area="BD-40-87-90-54-09")]
    r = await upload(client, sheet(rows))
    assert r.status_code == 201
    assert (r.json()["rows_valid"], r.json()["rows_invalid"]) == (1, 3)
    errors = (await client.get(f"/imports/{r.json()['id']}", headers=volunteer())).json()["errors"]
    assert [(e["row"], e["reason"]) for e in errors] == [
        (3, "outside your area scope"), (4, "outside your area scope"), (5, "outside your area scope")]
    # The whole import for another area is refused outright; another ward's volunteer cannot read the report.
    r2 = await upload(client, sheet(rows), area=OTHER_WARD, headers=volunteer(WARD))
    assert r2.status_code == 403
    r3 = await client.get(f"/imports/{r.json()['id']}", headers=volunteer(OTHER_WARD))
    assert r3.status_code == 404


async def test_bad_uploads_are_problems_never_500(client):
    cases = [
        (b"", CSV_TYPE), (b"\xff\xfe\x00garbage", CSV_TYPE), (b"PK\x03\x04not a zip", CSV_TYPE),
        (b"household_ref,member_no\n", CSV_TYPE), ("\n".join(template_headers("en")).encode(), CSV_TYPE),
        (sheet([]), CSV_TYPE), (b"a,b", {"Content-Type": "multipart/form-data; boundary=x"}),
    ]
    for body, ctype in cases:
        r = await upload(client, body, content_type=ctype)
        assert 400 <= r.status_code < 500, (body[:20], r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.post("/imports?area=XX-1", content=b"a", headers=volunteer() | CSV_TYPE)
    assert r.status_code == 422
