"""Lookup by identifier: one SQL statement that finds, scopes, audits and returns.

Why raw asyncpg and one statement: the lookup must answer 500 requests/s with p99 <= 10 ms
on a small machine (issue #3).  The general path (ORM session: pool pre-ping, BEGIN, holders,
one scoped read per holder, an audit insert, an identifier read, COMMIT) took ten round trips
and most of its CPU in SQL compilation.  Here the read-audit row is written by a
data-modifying CTE of the very statement that reads the person, so the audit can never be
missing for a returned record (a single statement is atomic under autocommit), and the whole
request is one round trip on a prepared statement.

The plan: ``ix_identifier_lookup`` (partial, live identifiers) finds the holder, the person
and the live membership come by primary key / ``uq_membership_one_live``; the area scope is a
post-filter on that single row (same prefix rule as :func:`kernel.areas.within_any`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

# Columns PersonOut needs (and nothing else: no keys, no encrypted values).
PERSON_COLUMNS = (
    "id", "area_code", "full_name", "name_latin", "sex", "birth_date", "birth_date_estimated", "birth_date_source",
    "father_name", "mother_name", "spouse_name", "marital_status", "disability", "pregnant", "occupation", "phones",
    "preferred_language", "status", "deceased_on", "merged_into", "version", "created_at", "updated_at",
)
IDENTIFIER_COLUMNS = ("id", "id_type", "form", "last4", "verification_method", "started_at")

LOOKUP_SQL = f"""
WITH found AS (
    SELECT {", ".join(f"p.{c}" for c in PERSON_COLUMNS)}, m.household_id, m.role
    FROM registry.identifier i
    JOIN registry.person p ON p.id = i.person_id
    LEFT JOIN registry.membership m ON m.person_id = p.id AND m.ended_on IS NULL
    WHERE i.id_type = $1 AND i.lookup_hash = $2 AND i.ended_at IS NULL
      AND p.status <> 'merged'
      -- two 17-digit NIDs with one 13-digit form but other year prefixes are a conflict, not a match
      AND (i.form <> 'nid17' OR $8::int IS NULL OR i.birth_year = $8::int)
      AND EXISTS (
          SELECT 1 FROM unnest($3::text[]) AS scope(code)
          WHERE p.area_code = scope.code OR starts_with(p.area_code, scope.code || '-')
      )
),
audit AS (
    INSERT INTO registry.audit_event (actor, action, record_type, record_id, purpose, request_id, details)
    SELECT $4, 'lookup', 'person', found.id::text, $5, $6, $7::jsonb FROM found
)
SELECT found.*, {", ".join(f"x.{c} AS ident_{c}" for c in IDENTIFIER_COLUMNS)}
FROM found
LEFT JOIN registry.identifier x ON x.person_id = found.id AND x.ended_at IS NULL
ORDER BY found.id, x.id_type, x.started_at
"""


async def find_and_audit(
    conn: asyncpg.Connection,
    *,
    id_type: str,
    lookup_hash: str,
    scopes: Sequence[str],
    actor: str,
    purpose: str,
    request_id: str | None,
    details: Mapping[str, Any],
    nid17_year: int | None = None,
) -> list[asyncpg.Record]:
    """One row per (visible person, live identifier); an audit_event row per person returned."""
    return await conn.fetch(  # type: ignore[no-any-return]
        LOOKUP_SQL, id_type, lookup_hash, list(scopes), actor, purpose, request_id, json.dumps(dict(details)),
        nid17_year,
    )
