"""Area codes: validation, the prefix rule, and the SQL range test agreeing with it."""

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.areas import (
    InvalidAreaCode,
    ancestor_codes,
    is_within,
    parse_area_code,
)

segment = st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}")
bd_codes = st.lists(segment, min_size=0, max_size=5).map(lambda parts: "-".join(["BD", *parts]))


def test_levels_by_country():
    assert parse_area_code("IN-23-0456-2210").level == "block"
    assert parse_area_code("bd-40-87-90-54-08").level == "ward"
    assert parse_area_code("BD-40-87-90").parent.value == "BD-40-87"


@pytest.mark.parametrize(
    "bad",
    ["XX-01", "IN-", "IN-abc", "IN-1234567", "BD-4-87", "BD-40-87-90-54-08-01", "IN-23--1", ""],
)
def test_rejects_malformed_codes(bad):
    with pytest.raises(InvalidAreaCode):
        parse_area_code(bad)


def test_prefix_needs_a_whole_segment():
    assert is_within("IN-23-0456", "IN-23")
    assert not is_within("IN-234", "IN-23")  # a different state, not a child
    assert is_within("IN-23", "IN-23")


@given(bd_codes, bd_codes)
def test_within_iff_ancestor_or_self(code, other):
    expected = code == other or other in ancestor_codes([code])
    assert is_within(code, other) is expected


@given(bd_codes)
def test_parent_chain_reaches_country(code):
    area = parse_area_code(code)
    chain = area.ancestors()
    assert [a.depth for a in chain] == list(range(area.depth))
    assert all(area.value.startswith(a.value) for a in chain)


@settings(max_examples=30, deadline=None)
@given(st.lists(bd_codes, min_size=1, max_size=25, unique=True), bd_codes)
async def test_sql_range_matches_python_prefix_rule(database_url, codes, scope):
    """The index-friendly SQL range (C collation) selects exactly what is_within() says."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT c FROM unnest($1::text[]) AS t(c)
               WHERE c COLLATE "C" = $2 OR (c COLLATE "C" >= $2 || '-' AND c COLLATE "C" < $2 || '.')""",
            codes,
            scope,
        )
    finally:
        await conn.close()
    assert sorted(r["c"] for r in rows) == sorted(c for c in codes if is_within(c, scope))


# Codes with segments of uneven width, so that "IN-2" / "IN-23" / "IN-2-3" neighbours occur often.
loose_codes = st.builds(
    lambda country, parts: "-".join([country, *parts]),
    st.sampled_from(["IN", "BD"]),
    st.lists(st.sampled_from(["1", "2", "23", "3", "230", "04"]), min_size=0, max_size=4),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(loose_codes, min_size=1, max_size=30, unique=True), st.lists(loose_codes, min_size=0, max_size=4))
async def test_within_any_sql_matches_python_for_every_scope_even_empty(database_url, codes, scopes):
    """The repositories' area filter (kernel.areas.within_any, compiled by SQLAlchemy and run on
    PostgreSQL) selects exactly what is_within_any() allows; an empty scope selects nothing."""
    from sqlalchemy import Column, MetaData, Table, select
    from sqlalchemy.dialects import postgresql

    from kernel.areas import area_code_type, is_within_any, within_any

    probe = Table("area_probe", MetaData(), Column("code", area_code_type()))
    query = select(probe.c.code).where(within_any(probe.c.code, scopes))
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute('CREATE TEMP TABLE area_probe (code varchar(64) COLLATE "C")')
        await conn.executemany("INSERT INTO area_probe VALUES ($1)", [(c,) for c in codes])
        rows = await conn.fetch(sql)
    finally:
        await conn.close()
    assert sorted(r["code"] for r in rows) == sorted(c for c in codes if is_within_any(c, scopes))
    if not scopes:
        assert rows == []
