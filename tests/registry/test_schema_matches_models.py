"""The migrated registry schema is the one the models declare, for the details that decide speed
and ordering and that a migration can silently miss: column collations and index methods."""

from __future__ import annotations

import asyncpg
from sqlalchemy import Index

from services.registry.models import common

SCHEMA = "registry"


def declared() -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """(table, column) -> collation, and index name -> access method, from the models."""
    collations: dict[tuple[str, str], str] = {}
    methods: dict[str, str] = {}
    for table in common.METADATA.tables.values():
        if table.schema != SCHEMA:
            continue
        for column in table.columns:
            collation = getattr(column.type, "collation", None)
            if collation:
                collations[(table.name, column.name)] = collation
        for index in table.indexes:
            assert isinstance(index, Index) and index.name
            methods[index.name] = index.dialect_options["postgresql"]["using"] or "btree"
    return collations, methods


async def test_collations_and_index_methods_are_as_declared(database_url):
    collations, methods = declared()
    assert collations[("identifier", "lookup_hash")] == "C" and methods["ix_identifier_lookup"] == "hash"
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = $1", SCHEMA)
        found = {(r["table_name"], r["column_name"]): r["collation_name"] for r in rows}
        index_rows = await conn.fetch(
            "SELECT c.relname, am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1", SCHEMA)
        indexes = {r["relname"]: r["amname"] for r in index_rows}
    finally:
        await conn.close()
    assert {key: found.get(key) for key in collations} == collations
    assert {name: indexes.get(name) for name in methods} == methods
