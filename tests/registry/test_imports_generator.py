"""The synthetic population generator: valid identifiers, one head per household, deterministic."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date

import asyncpg
import phonenumbers

from gramsetu.demo import DEMO_IDENTITY
from kernel.db import make_engine, make_sessionmaker, transaction
from services.registry.demo.load import load_households
from services.registry.demo.people import generate
from services.registry.rules.identifiers import parse_identifier, verhoeff_checksum
from services.registry.rules.imports import RowValidator, ValidRow, fast_name_key
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD
from services.registry.rules.names import name_key
from tests.registry.conftest import IN_VILLAGE, WARD

AREAS = [WARD, IN_VILLAGE]


def test_generated_households_are_valid_and_plausible():
    rows = list(generate(AREAS, households=400, seed=11))
    by_household: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_household[row["household_ref"]].append(row)
    assert len(by_household) == 400
    assert all(Counter(r["role"] for r in members)["head"] == 1 for members in by_household.values())
    validator = RowValidator("IN", ["IN", "BD"], set(AREAS))
    bd_validator = RowValidator("BD", ["IN", "BD"], set(AREAS))
    for i, row in enumerate(rows):
        checked = (bd_validator if row["area_code"].startswith("BD") else validator).validate(i + 2, dict(row))
        assert isinstance(checked, ValidRow), (row, checked)
    values: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        region = row["area_code"][:2]
        for id_type in ("aadhaar", "bd_nid", "bd_brn", "voter_id"):
            if row.get(id_type):
                parsed = parse_identifier(id_type, row[id_type], region=region)
                values[id_type].append(parsed.match_key)
                if parsed.birth_year is not None and row.get("birth_date_estimated") != "yes":
                    assert int(row["birth_date"][:4]) == parsed.birth_year  # year prefix = DOB year
        if row.get("aadhaar"):
            assert verhoeff_checksum(row["aadhaar"]) == 0
        if row.get("phone"):
            number = phonenumbers.parse(row["phone"])
            assert phonenumbers.is_valid_number(number) and row["phone"].startswith(("+91", "+880"))
    for id_type, keys in values.items():
        assert len(keys) == len(set(keys)), f"duplicate {id_type}"
    assert {"aadhaar", "bd_nid", "bd_brn", "voter_id"} <= set(values)
    assert {len(v) for v in (r.get("bd_nid") for r in rows) if v} == {10, 13, 17}
    # Names: Bengali script in BD, Devanagari in IN, with Latin spellings; pregnancies and disabilities rare.
    bd = [r for r in rows if r["area_code"] == WARD]
    india = [r for r in rows if r["area_code"] == IN_VILLAGE]
    assert all("\u0980" <= r["full_name"][0] <= "\u09ff" for r in bd)
    assert all("\u0900" <= r["full_name"][0] <= "\u097f" for r in india)
    assert all(r["name_latin"].isascii() for r in rows)
    assert 0 < sum(r.get("pregnant") == "yes" for r in rows) < 0.05 * len(rows)
    assert 0 < sum(bool(r.get("disability")) for r in rows) < 0.08 * len(rows)
    ages = [(date.today() - date.fromisoformat(r["birth_date"])).days // 365 for r in rows]
    assert min(ages) == 0 and max(ages) >= 75 and 3 <= len(rows) / 400 <= 5.5


def test_generation_is_deterministic_per_seed():
    first = list(generate(AREAS, households=50, seed=5))
    assert first == list(generate(AREAS, households=50, seed=5))
    assert first != list(generate(AREAS, households=50, seed=6))
    persons = list(generate([WARD], persons=101, seed=5))
    assert len(persons) >= 101


def test_cached_name_keys_equal_the_registry_rule():
    for row in generate(AREAS, households=200, seed=3):
        for name in (row["full_name"], row["name_latin"], row.get("father_name", ""), "Md. Abdur  Rahim-Uddin"):
            assert fast_name_key(name) == name_key(name)


async def test_load_households_goes_through_the_import_and_is_idempotent(client, settings, database_url):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        for _ in range(2):
            async with transaction(make_sessionmaker(engine)) as session:
                results = await load_households(session, DEMO_IDENTITY, AREAS, households=12, seed=9)
    finally:
        await engine.dispose()
    assert [r.reused for r in results] == [True, True]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM registry.household") == 12
        heads = await conn.fetchval("SELECT count(*) FROM registry.membership WHERE role = 'head'")
        jobs = await conn.fetchval("SELECT count(*) FROM registry.import_job")
    finally:
        await conn.close()
    assert heads == 12 and jobs == 2


def test_reregistered_adults_are_added_without_changing_the_other_rows():
    plain = list(generate(AREAS, households=40, seed=2026))
    with_repeats = list(generate(AREAS, households=40, seed=2026, reregistered_every=10))
    repeats = [r for r in with_repeats if r["household_ref"].endswith("-R")]
    assert [r for r in with_repeats if r not in repeats] == plain and len(repeats) == 4
    for repeat in repeats:
        assert repeat["full_name"].isascii() and repeat["father_name"].isascii()
        assert repeat["birth_date_estimated"] == "yes" and not {"phone", "aadhaar", "bd_nid", "bd_brn"} & set(repeat)


async def test_the_demo_reregistrations_reach_the_duplicates_queue(client, settings, database_url):
    # Each repeat is in Latin letters, its first record in Bengali or Devanagari, with no identifier or
    # phone in common: only the matcher can link them.
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            results = await load_households(session, DEMO_IDENTITY, AREAS, households=30, seed=2026,
                                            reregistered_every=5)
    finally:
        await engine.dispose()
    assert sum(r.job["rows_invalid"] for r in results) == 0
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetch(
            "SELECT r.client_ref AS repeat, o.client_ref AS first, d.reason, d.details"
            " FROM registry.person r JOIN registry.duplicate_candidate d ON r.id IN (d.person_a, d.person_b)"
            " JOIN registry.person o ON o.id IN (d.person_a, d.person_b) AND o.id <> r.id"
            " WHERE r.client_ref LIKE '%-S2026-H%-R:1' AND d.status = 'open'")
    finally:
        await conn.close()
    repeats = {row["repeat"] for row in found if row["first"].startswith(row["repeat"].removesuffix("-R:1") + ":")}
    assert len(repeats) == 6
    matched = [json.loads(row["details"]) for row in found if row["reason"] == "probable_match"]
    assert matched and all(d["match_probability"] >= DEFAULT_THRESHOLD for d in matched)
