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
