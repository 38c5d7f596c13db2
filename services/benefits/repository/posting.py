"""The posting path's reads, on raw asyncpg: the catalogue (cached in process, see
``service/catalogue_cache.py``) and one lookup statement for everything a posting checks.

Measured (``bench/per_request.py``, one posting in a session of its own): each statement through
SQLAlchemy on asyncpg cost 0.3-0.5 ms of client CPU against about 0.12 ms on bare asyncpg, and a
posting made five reads (schemes, department references, identifier hashes, persons with their
clusters, live grants) plus the lane pick.  Here the catalogue comes from the cache, and the rest is
one statement whose answer is one row of arrays of anonymous records (asyncpg decodes them to tuples
in C): one round trip per posting or per batch, whatever its size.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import raw_transaction
from services.benefits.repository.ledger import ENTRY_COLUMNS

CATALOGUE_COLUMNS = ("code", "department_code", "kind", "beneficiary", "amount_minor", "currency", "quantity", "unit",
                     "frequency", "area_codes", "valid_from", "valid_to", "current_version")
# Every scheme with its current rules and its department's posters, and the catalogue's version, read in
# one snapshot (at least one row, so the version comes back with an empty catalogue too).
CATALOGUE_SQL = f"""
SELECT v.version, {", ".join(f"s.{c}" for c in CATALOGUE_COLUMNS)}, r.exclusivity::text AS exclusivity,
       r.policy::text AS policy,
       ARRAY(SELECT p.actor FROM benefits.department_poster p WHERE p.department_code = s.department_code) AS posters
FROM (SELECT coalesce((SELECT version FROM benefits.catalogue_state WHERE id = 1), 0) AS version) v
LEFT JOIN (benefits.scheme s JOIN benefits.rule_version r ON r.scheme_code = s.code AND r.version = s.current_version)
  ON true
"""

# $1/$2 department codes and references (pairs), $3 identifier hashes, $4 person ids, $5 household ids,
# $6 the schemes whose grants count (each posted scheme and those it may not go with), $7/$8 the
# periods' span, $9 the chains (``<scheme>:<period>``) to take a free lane of.
# Each read is driven by an index from the few rows asked for, whatever the tables' sizes: the per-row
# reads are LATERAL subqueries fenced with OFFSET 0 (no join reordering, no condition pushed in), so
# the planner can neither hash-join a whole table nor AND in the scheme's index.  Written with
# ``= ANY(<array from a CTE>)`` it had scanned every grant of the scheme and compared each with the
# whole array (29 ms for 1,000 persons over an 11,000-entry ledger, growing with the ledger), and
# with the scheme filter inside the LATERAL, ANDed a bitmap of every entry of the scheme per person.
# ``u.reverses_id IS NOT NULL`` lets the reversal check read the small partial index of reversals
# instead of hashing the whole ledger.
_NEAR_COLUMNS = "e.id, e.kind, e.scheme_code, e.person_id, e.household_id, e.period_start, e.period_end"
LOOKUP_SQL = f"""
WITH holders AS (
  SELECT i.hash, p.id, p.status FROM benefits.identifier_hash i JOIN benefits.person p ON p.id = i.person_id
  WHERE i.hash = ANY($3::text[])
), asked AS (
  SELECT p.id, p.household_id, p.area_code, p.status, p.deceased_on, p.version, p.cluster_id
  FROM benefits.person p WHERE p.id = ANY($4::uuid[])
  UNION
  SELECT p.id, p.household_id, p.area_code, p.status, p.deceased_on, p.version, p.cluster_id
  FROM benefits.person p WHERE p.id = ANY(ARRAY(SELECT id FROM holders))
), members AS (
  SELECT a.id AS person_id, o.id AS member FROM asked a
  CROSS JOIN LATERAL (SELECT o.id FROM benefits.person o WHERE o.cluster_id = a.cluster_id OFFSET 0) o
), subject_persons AS (
  SELECT DISTINCT member AS id FROM members
), subject_households AS (
  SELECT unnest($5::uuid[]) AS id UNION SELECT household_id FROM asked WHERE household_id IS NOT NULL
), near AS (
  SELECT e.* FROM subject_persons s CROSS JOIN LATERAL (
    SELECT {_NEAR_COLUMNS} FROM benefits.entry e WHERE e.person_id = s.id AND e.period_start <= $8::date OFFSET 0) e
  UNION ALL
  SELECT e.* FROM subject_persons s JOIN benefits.entry_match m ON m.person_id = s.id CROSS JOIN LATERAL (
    SELECT {_NEAR_COLUMNS} FROM benefits.entry e WHERE e.id = m.entry_id OFFSET 0) e
  UNION ALL
  SELECT e.* FROM subject_households s CROSS JOIN LATERAL (
    SELECT {_NEAR_COLUMNS} FROM benefits.entry e WHERE e.household_id = s.id AND e.period_start <= $8::date
    OFFSET 0) e
)
SELECT
  coalesce((SELECT version FROM benefits.catalogue_state WHERE id = 1), 0) AS catalogue_version,
  ARRAY(SELECT ROW({", ".join(f"e.{c}" for c in ENTRY_COLUMNS)})
        FROM unnest($1::text[], $2::text[]) AS r(dept, ref) CROSS JOIN LATERAL (
          SELECT * FROM benefits.entry e WHERE e.department_code = r.dept AND e.department_ref = r.ref OFFSET 0) e
       ) AS repeated,
  ARRAY(SELECT ROW(hash, id) FROM holders ORDER BY hash, status <> 'active', id) AS holders,
  ARRAY(SELECT ROW(id, household_id, area_code, status, deceased_on, version) FROM asked) AS persons,
  ARRAY(SELECT ROW(person_id, member) FROM members) AS members,
  ARRAY(SELECT ROW(h.id, h.area_code) FROM benefits.household h WHERE h.id = ANY($5::uuid[])) AS households,
  -- as posted, or as matched to a person later (entry_match; the entry never changes)
  ARRAY(SELECT ROW(e.id, e.scheme_code, coalesce(e.person_id, m.person_id), coalesce(e.household_id, m.household_id),
                   e.period_start, e.period_end)
        FROM near e LEFT JOIN benefits.entry_match m ON m.entry_id = e.id
        WHERE e.kind = 'grant' AND e.scheme_code = ANY($6::text[]) AND e.period_start <= $8::date
          AND e.period_end >= $7::date
          AND NOT EXISTS (SELECT 1 FROM benefits.entry u WHERE u.reverses_id IS NOT NULL AND u.reverses_id = e.id)
       ) AS grants,  -- an entry found twice (posted to a person and matched) is one grant: GrantIndex keys by id
  ARRAY(
    SELECT ROW(c.chain, h.partition, h.seq, h.hash,
               CASE WHEN h.partition IS NULL THEN (SELECT count(*) FROM benefits.chain_head a
                 WHERE a.partition > c.chain || '.' AND a.partition < c.chain || '/') END)
    FROM unnest($9::text[]) AS c(chain)
    LEFT JOIN LATERAL (
      SELECT partition, seq, hash FROM benefits.chain_head
      WHERE partition > c.chain || '.' AND partition < c.chain || '/'
      ORDER BY partition LIMIT 1 FOR UPDATE SKIP LOCKED
    ) h ON true) AS lanes
"""


FLAGS_SQL = """
INSERT INTO benefits.flag (id, entry_id, kind, rule, scheme_code, rule_version, area_code, other_entry_ids, evidence,
                           source, raised_at)
SELECT * FROM jsonb_to_recordset($1::jsonb) AS f(id uuid, entry_id uuid, kind text, rule text, scheme_code text,
  rule_version int, area_code text, other_entry_ids uuid[], evidence jsonb, source text, raised_at timestamptz)
"""


@dataclass
class Lookup:
    """What one posting (or batch) needs from the database, from one statement."""

    catalogue_version: int
    repeated: dict[tuple[str, str], dict[str, Any]]  # (department, reference) -> the entry already posted
    holders: dict[str, list[uuid.UUID]]  # identifier hash -> persons holding it, active first
    persons: dict[uuid.UUID, dict[str, Any]]  # with "members": every record of the same human
    households: dict[uuid.UUID, dict[str, Any]]
    grants: list[tuple[Any, ...]]  # (id, scheme, person, household, start, end) of live grants
    lanes: dict[str, tuple[Any, ...]]  # chain -> (chain, partition or None, seq, hash, lanes open)


# BEGIN and the plan choice in one round trip (simple query protocol).  Left to itself, PostgreSQL
# planned the lookup statement afresh on every execution (custom plans: 20 of 20 in a test), about
# 1 ms of the database's CPU each; its reads are index-driven by construction (LATERAL ... OFFSET 0),
# so the cached generic plan is as good: a lookup with BEGIN and COMMIT took 3.4 ms against 6.3-7.6 ms
# (100 lookups each way, load ~5).
BEGIN_SQL = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"


def transaction(engine: AsyncEngine) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """A transaction on a pooled connection without an ORM session: ``POST /entries``' hot path
    (:func:`kernel.db.raw_transaction`, whose BEGIN here also fixes the plan choice).

    Measured (``bench/per_request.py``): the request session's own machinery (session, connection
    checkout through it, BEGIN and COMMIT through SQLAlchemy's greenlet bridge) cost about a quarter of
    a posting's client CPU once the posting itself was two statements."""
    return raw_transaction(engine, begin=BEGIN_SQL)


async def insert_flags(conn: asyncpg.Connection, flags: Sequence[dict[str, Any]]) -> None:
    """Flags raised at posting, in one statement (rows as JSON: ``other_entry_ids`` differ in length)."""
    if flags:
        await conn.execute(FLAGS_SQL, json.dumps(list(flags), default=str))


async def catalogue(conn: asyncpg.Connection) -> tuple[int, list[asyncpg.Record]]:
    rows = await conn.fetch(CATALOGUE_SQL)
    return rows[0]["version"], [r for r in rows if r["code"] is not None]


async def lookup(conn: asyncpg.Connection, *, refs: Sequence[tuple[str, str]], hashes: Sequence[str],
                 persons: Sequence[uuid.UUID], households: Sequence[uuid.UUID], schemes: Sequence[str],
                 start: date, end: date, chains: Sequence[str]) -> Lookup:
    row = await conn.fetchrow(LOOKUP_SQL, [d for d, _ in refs], [r for _, r in refs], list(hashes), list(persons),
                              list(households), list(schemes), start, end, list(chains))
    assert row is not None
    repeated = {}
    for values in row["repeated"]:
        found = dict(zip(ENTRY_COLUMNS, values, strict=True))
        repeated[(found["department_code"], found["department_ref"])] = found
    holders: dict[str, list[uuid.UUID]] = {}
    for digest, pid in row["holders"]:
        holders.setdefault(digest, []).append(pid)
    members: dict[uuid.UUID, list[uuid.UUID]] = {}
    for pid, member in row["members"]:
        members.setdefault(pid, []).append(member)
    found_persons = {p[0]: {"id": p[0], "household_id": p[1], "area_code": p[2], "status": p[3], "deceased_on": p[4],
                            "version": p[5], "members": members.get(p[0])} for p in row["persons"]}
    found_households = {h[0]: {"id": h[0], "area_code": h[1]} for h in row["households"]}
    return Lookup(row["catalogue_version"], repeated, holders, found_persons, found_households, list(row["grants"]),
                  {lane[0]: lane for lane in row["lanes"]})
