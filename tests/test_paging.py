"""Every paged list of every service has a unique, stable order (the class of bug behind a
duplicates queue that skipped and repeated pairs when paged)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, select

from kernel.paging import paged, unique_order_problem

ROOT = Path(__file__).resolve().parents[1]
_meta = MetaData()
flags = Table("flags", _meta, Column("id", Integer, primary_key=True), Column("created_at", Text),
              Column("area", Text))
pairs = Table("pairs", _meta, Column("a", Integer, primary_key=True), Column("b", Integer, primary_key=True),
              Column("created_at", Text))


def test_no_service_pages_with_its_own_offset() -> None:
    """Every LIMIT/OFFSET goes through kernel.paging.paged, which refuses an order with ties."""
    offenders = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "offset":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"page through kernel.paging.paged instead: {offenders}"


@pytest.mark.parametrize("stmt", [
    select(flags).order_by(flags.c.created_at),
    select(flags),
    select(flags).order_by(flags.c.area, flags.c.created_at),
    select(pairs).order_by(pairs.c.created_at, pairs.c.a),
])
def test_orders_with_ties_are_refused(stmt: object) -> None:
    assert unique_order_problem(stmt) is not None  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="ORDER BY"):
        paged(stmt, limit=10, offset=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("stmt", [
    select(flags).order_by(flags.c.created_at, flags.c.id),
    select(flags).order_by(flags.c.created_at.desc(), flags.c.id.desc()),
    select(flags.c.area).select_from(flags).order_by(flags.c.area, flags.c.id),
    select(pairs).order_by(pairs.c.created_at, pairs.c.a, pairs.c.b),
    select(flags).join(pairs, pairs.c.a == flags.c.id).order_by(flags.c.created_at, flags.c.id),
])
def test_orders_ending_in_a_key_are_accepted(stmt: object) -> None:
    assert unique_order_problem(stmt) is None  # type: ignore[arg-type]
