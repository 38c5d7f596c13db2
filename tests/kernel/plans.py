"""Rows a prepared statement's *generic* plan examines, measured with EXPLAIN ANALYZE.

asyncpg prepares every statement; after five executions PostgreSQL may switch to a generic
plan, planned without the parameter values.  ``generic_plan`` runs the exact statement text
(with ``$n`` parameters) as ``PREPARE`` + ``EXPLAIN (ANALYZE) EXECUTE`` under
``plan_cache_mode = force_generic_plan`` inside a rolled-back transaction, and reports, per
table, the scan nodes used and the rows they read (returned + removed by a filter).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(literal(v) for v in value) + "]::text[]"
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Plan:
    text: str
    scans: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rows_read: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def walk_plan(node: dict[str, Any], plan: Plan) -> None:
    relation = node.get("Relation Name")
    if relation and "Scan" in node["Node Type"]:
        plan.scans[relation].add(node["Node Type"])
        loops = node.get("Actual Loops", 1)
        plan.rows_read[relation] += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
    for child in node.get("Plans", []):
        walk_plan(child, plan)


async def generic_plan(conn: asyncpg.Connection, sql: str, args: list[Any]) -> Plan:
    """EXPLAIN ANALYZE of ``sql`` (``$1``…) with ``args`` under a forced generic plan (rolled back)."""
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    await conn.execute(f"PREPARE probe AS {sql}")
    transaction = conn.transaction()
    await transaction.start()
    try:
        values = f"({', '.join(literal(a) for a in args)})" if args else ""
        explained = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE probe{values}")
    finally:
        await transaction.rollback()
        await conn.execute("DEALLOCATE probe")
        await conn.execute("RESET plan_cache_mode")
    document = json.loads(explained) if isinstance(explained, str) else explained
    plan = Plan(text=json.dumps(document, indent=1))
    walk_plan(document[0]["Plan"], plan)
    return plan

