"""Ledger entries, chain heads and chain verification in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import and_, any_, bindparam, func, select, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from kernel.outbox import BULK_NOTIFY, notify_channel, notify_unless_awake
from services.benefits import SERVICE
from services.benefits.models import chain_head, entry, entry_match
from services.benefits.repository.common import (
    all_rows,
    array_param,
    held_for,
    one_or_none,
    page,
)
from services.benefits.rules.chain import CONTENT_TYPES, GENESIS, NULL_TEXT, NULL_VALUE, PRESENT


def _sql_content(column: str, kind: str) -> str:
    """SQL for ``rules.chain._encode`` of one column (text through ``textsend``: the client encoding,
    UTF-8 for asyncpg, which refuses any other)."""
    if kind == "text":
        return f"coalesce(int4send(octet_length({column})) || textsend({column}), '\\x{NULL_TEXT.hex()}'::bytea)"
    send = {"uuid": "uuid_send", "int8": "int8send", "int4": "int4send", "date": "date_send",
            "timestamptz": "timestamptz_send"}[kind]
    return f"coalesce('\\x{PRESENT.hex()}'::bytea || {send}({column}), '\\x{NULL_VALUE.hex()}'::bytea)"


# The canonical content of an entry, as rules/chain.content computes it in Python.
CONTENT_SQL = " || ".join(_sql_content(c, k) for c, k in CONTENT_TYPES.items())
GENESIS_SQL = "'\\x" + GENESIS.hex() + "'::bytea"

# Per partition: the first row whose stored hash is not the hash of its own content (a changed
# row), the first row whose link does not match the row before it (a removed, inserted or
# reordered row, or a rewritten hash), the row count and last seq.  Row-local hashing runs in
# parallel workers; the link check is a window over the rows in (partition, seq) order.
VERIFY_HASHES_SQL = f"""
SELECT partition, count(*) AS entries, max(seq) AS last_seq,
       min(seq) FILTER (WHERE hash <> sha256(prev_hash || {CONTENT_SQL})) AS first_bad_hash
FROM benefits.entry WHERE {{where}} GROUP BY partition
"""
VERIFY_LINKS_SQL = f"""
SELECT partition, min(seq) AS first_bad_link FROM (
  SELECT partition, seq, prev_hash,
         lag(hash, 1, {GENESIS_SQL}) OVER w AS expected_prev,
         lag(seq, 1, 0::bigint) OVER w AS previous_seq
  FROM benefits.entry WHERE {{where}}
  WINDOW w AS (PARTITION BY partition ORDER BY seq)
) links
WHERE prev_hash <> expected_prev OR seq <> previous_seq + 1
GROUP BY partition
"""


LANE_SEPARATOR = "."
# Per chain: its first lane nobody holds (locked here), or how many lanes it has (to open the next).
TAKE_LANE_SQL = """
SELECT c.chain, h.partition, h.seq, h.hash,
       (SELECT count(*) FROM benefits.chain_head a
         WHERE a.partition > c.chain || '.' AND a.partition < c.chain || '/') AS lanes
FROM unnest($1::text[]) AS c(chain)
LEFT JOIN LATERAL (
  SELECT partition, seq, hash FROM benefits.chain_head
  WHERE partition > c.chain || '.' AND partition < c.chain || '/'
  ORDER BY partition LIMIT 1 FOR UPDATE SKIP LOCKED
) h ON true
"""
OPEN_LANES_SQL = """
INSERT INTO benefits.chain_head (partition, seq, hash, signature, key_id, signed_at)
SELECT p, 0, $2::bytea, ''::bytea, '', now() FROM unnest($1::text[]) AS p
ON CONFLICT (partition) DO NOTHING RETURNING partition, seq, hash
"""
ENTRY_TYPES = {
    "id": "uuid", "partition": "text", "seq": "int8", "prev_hash": "bytea", "hash": "bytea", "kind": "text",
    "reverses_id": "uuid", "flag_id": "uuid", "scheme_code": "text", "department_code": "text",
    "rule_version": "int4", "beneficiary": "text", "person_id": "uuid", "household_id": "uuid",
    "identifier_hash": "text", "area_code": "text", "period": "text", "period_start": "date", "period_end": "date",
    "amount_minor": "int8", "currency": "text", "quantity": "int8", "unit": "text", "delivered_on": "date",
    "channel": "text", "recorded_by": "text", "department_ref": "text", "evidence_ref": "text", "decision": "text",
    "file_id": "uuid", "file_row": "int4", "recorded_at": "timestamptz",
}
ENTRY_COLUMNS = tuple(ENTRY_TYPES)
_N = len(ENTRY_COLUMNS)
_ENTRIES_AND_HEADS = f"""
WITH written AS (
  INSERT INTO benefits.entry ({", ".join(ENTRY_COLUMNS)})
  SELECT * FROM unnest({", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(ENTRY_TYPES.values()))})
), heads AS (
  UPDATE benefits.chain_head h
  SET seq = n.seq, hash = n.hash, signature = n.signature, key_id = n.key_id, signed_at = n.signed_at
  FROM unnest(${_N + 1}::text[], ${_N + 2}::int8[], ${_N + 3}::bytea[], ${_N + 4}::bytea[], ${_N + 5}::text[],
              ${_N + 6}::timestamptz[]) AS n(partition, seq, hash, signature, key_id, signed_at)
  WHERE h.partition = n.partition
)"""
APPEND_SQL = _ENTRIES_AND_HEADS + "\nSELECT"
# The same with the call's events in the outbox, in the same round trip: a posting or a batch is then
# one write statement.  Single events are rows as kernel.outbox.add_events_asyncpg writes them (the
# relay notified at commit unless one is awake); a batch's events are batch rows as
# kernel.outbox.copy_event_batches writes them (the relay's bulk lane always notified).
_EVENTS = f"""
, events AS (
  INSERT INTO benefits.outbox (id, subject, payload, headers)
  SELECT * FROM unnest(${_N + 7}::uuid[], ${_N + 8}::text[], ${_N + 9}::jsonb[], ${_N + 10}::jsonb[])
), batches AS (
  INSERT INTO benefits.outbox (id, subject, batch, events, headers)
  SELECT * FROM unnest(${_N + 11}::uuid[], ${_N + 12}::text[], ${_N + 13}::text[], ${_N + 14}::int4[],
                       ${_N + 15}::jsonb[])
)
"""
# One entry under one lane head (a single posting), with its few events: scalars, not arrays, since
# asyncpg checks every array element's type against the collection ABCs (two isinstance calls each,
# about 80 per single posting over the 47 arrays of the general statement).
_ONE = len(ENTRY_COLUMNS)
APPEND_ONE_SQL = f"""
WITH written AS (
  INSERT INTO benefits.entry ({", ".join(ENTRY_COLUMNS)})
  VALUES ({", ".join(f"${i + 1}::{t}" for i, t in enumerate(ENTRY_TYPES.values()))})
), heads AS (
  UPDATE benefits.chain_head SET seq = ${_ONE + 2}, hash = ${_ONE + 3}, signature = ${_ONE + 4},
         key_id = ${_ONE + 5}, signed_at = ${_ONE + 6}
  WHERE partition = ${_ONE + 1}
), events AS (
  INSERT INTO benefits.outbox (id, subject, payload, headers)
  SELECT * FROM unnest(${_ONE + 7}::uuid[], ${_ONE + 8}::text[], ${_ONE + 9}::jsonb[], ${_ONE + 10}::jsonb[])
)
""" + notify_unless_awake(f"${_ONE + 11}::text")
APPEND_WITH_EVENTS_SQL = _ENTRIES_AND_HEADS + _EVENTS + notify_unless_awake(f"${_N + 16}::text")
APPEND_WITH_BATCHES_SQL = _ENTRIES_AND_HEADS + _EVENTS + f"SELECT pg_notify(${_N + 16}::text, '{BULK_NOTIFY}')"


def _with_matches() -> Any:
    return entry.outerjoin(entry_match, entry_match.c.entry_id == entry.c.id)


def _holder() -> list[Any]:
    """The person (and household) an entry counts for: as posted, or as matched later."""
    return [func.coalesce(entry.c.person_id, entry_match.c.person_id).label("person_id"),
            func.coalesce(entry.c.household_id, entry_match.c.household_id).label("household_id")]


# Built once (see common.array_param).
BY_REFS = select(entry).where(entry.c.department_code == bindparam("dept"),
                              entry.c.department_ref == any_(array_param("refs", entry.c.department_ref)))


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_department_refs(self, department_refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RowMapping]:
        by_dept: dict[str, list[str]] = {}
        for dept, ref in department_refs:
            by_dept.setdefault(dept, []).append(ref)
        out = {}
        for dept, refs in by_dept.items():  # one department per call, nearly always
            rows = (await self.session.execute(BY_REFS, {"dept": dept, "refs": refs})).mappings().all()
            out.update({(r["department_code"], r["department_ref"]): r for r in rows})
        return out

    async def live_grants_of_persons(self, person_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        """Every grant to these persons that was not reversed or recovered (the sweep's input)."""
        undone = entry.alias("undone")
        columns = [c for c in entry.c if c.name not in ("person_id", "household_id")]
        stmt = (select(*columns, *_holder()).select_from(_with_matches())
                .where(entry.c.kind == "grant", held_for(list(person_ids)))
                .where(~select(undone.c.id).where(undone.c.reverses_id == entry.c.id).exists()))
        return list(await all_rows(self.session, stmt))

    async def entry(self, entry_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(entry).where(entry.c.id == entry_id))

    async def entry_for_update(self, entry_id: uuid.UUID) -> RowMapping | None:
        return await one_or_none(self.session, select(entry).where(entry.c.id == entry_id).with_for_update())

    async def undoing(self, entry_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
        """The reversal or recovery of each of these entries, if any."""
        if not entry_ids:
            return {}
        rows = await all_rows(self.session, select(entry).where(entry.c.reverses_id.in_(list(entry_ids))))
        return {r["reverses_id"]: r for r in rows}

    async def entries(self, *, scopes: Sequence[str], scheme_code: str | None, period: str | None,
                      person_ids: Sequence[uuid.UUID] | None, department_code: str | None,
                      limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(entry).where(within_any(entry.c.area_code, list(scopes)))
        if scheme_code:
            stmt = stmt.where(entry.c.scheme_code == scheme_code)
        if period:
            stmt = stmt.where(entry.c.period == period)
        if person_ids is not None:
            stmt = stmt.where(entry.c.person_id.in_(list(person_ids)))
        if department_code:
            stmt = stmt.where(entry.c.department_code == department_code)
        stmt = stmt.order_by(entry.c.recorded_at, entry.c.id)
        return await page(self.session, stmt, limit=limit, offset=offset)

    async def heads(self, partition_prefix: str | None = None) -> list[RowMapping]:
        stmt = select(chain_head).where(chain_head.c.seq > 0)
        if partition_prefix:
            stmt = stmt.where(chain_head.c.partition.startswith(partition_prefix, autoescape=True))
        return list(await all_rows(self.session, stmt.order_by(chain_head.c.partition)))

    async def verify_rows(self, partition_prefix: str | None) -> tuple[list[RowMapping], dict[str, int]]:
        where, params = "true", {}
        if partition_prefix:
            where, params = "partition >= :lo AND partition < :hi", _prefix_range(partition_prefix)
        hashes = await all_rows(self.session, text(VERIFY_HASHES_SQL.format(where=where)).bindparams(**params))
        links = await all_rows(self.session, text(VERIFY_LINKS_SQL.format(where=where)).bindparams(**params))
        return list(hashes), {r["partition"]: r["first_bad_link"] for r in links}

    async def head_rows(self, partition_prefix: str | None) -> dict[str, RowMapping]:
        """Each chain head with the hash stored on the entry at the head's seq (None if that row is gone)."""
        stmt = (select(chain_head, entry.c.hash.label("entry_hash"))
                .outerjoin(entry, and_(entry.c.partition == chain_head.c.partition, entry.c.seq == chain_head.c.seq))
                .where(chain_head.c.seq > 0))
        if partition_prefix:
            stmt = stmt.where(chain_head.c.partition >= partition_prefix,
                              chain_head.c.partition < partition_prefix + "\U0010ffff")
        return {r["partition"]: r for r in await all_rows(self.session, stmt)}


# The posting path's writes, on the transaction's asyncpg connection (raw asyncpg: see repository/posting.py).


async def take_lanes(conn: asyncpg.Connection, chains: Sequence[str],
                     found: Mapping[str, Sequence[Any]] | None = None) -> dict[str, dict[str, Any]]:
    """One free lane of each chain (``<scheme>:<period>``), locked until the transaction ends.

    A chain is split into lanes (``<chain>.<n>``), each its own hash chain with its own signed
    head, so concurrent writers to one scheme and month do not queue on one head: each takes
    the first lane nobody holds (``SKIP LOCKED``), and a new lane is opened only when every
    lane is taken.  The lane count therefore follows the number of concurrent writers.  New
    lanes are inserted in sorted order, so two writers opening lanes never deadlock; one that
    loses the race for a lane number simply looks again.  ``found``: what posting's lookup
    statement already took (``repository.posting.LOOKUP_SQL``, the same query): a lane it
    locked is used as it is, so only a chain whose lanes were all taken costs a round trip."""
    wanted, taken = sorted(set(chains)), {}
    rows: list[Any] = [found[c] for c in wanted if c in found] if found else []
    for _ in range(20):
        missing = [c for c in wanted if c not in taken and c not in {r[0] for r in rows}]
        if missing:
            rows += await conn.fetch(TAKE_LANE_SQL, missing)
        opened = []
        for chain, partition, seq, digest, lanes in rows:
            if partition is not None:
                taken[chain] = {"partition": partition, "seq": seq, "hash": digest}
            else:
                opened.append(f"{chain}{LANE_SEPARATOR}{lanes}")
        rows = []
        if opened:
            for row in await conn.fetch(OPEN_LANES_SQL, sorted(opened), GENESIS):
                taken[row["partition"].rsplit(LANE_SEPARATOR, 1)[0]] = dict(row)
        if len(taken) == len(wanted):
            return taken
    raise RuntimeError("could not take a chain lane after 20 attempts")  # pragma: no cover


async def append_rows(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]], heads: Sequence[dict[str, Any]],
                      outbox: Sequence[dict[str, Any]] = (), batches: Sequence[tuple[Any, ...]] = ()) -> None:
    """Insert chained entries and move their lanes' signed heads, in one statement (the hot path:
    raw asyncpg, arrays bound once, no per-row parameter building); with ``outbox`` rows
    (kernel.outbox.outbox_rows) or ``batches`` (id, subject, lines, events, headers) the events go
    in with them and the relay is notified."""
    if len(rows) == 1 and len(heads) == 1 and outbox and not batches:
        head, row = heads[0], rows[0]
        await conn.execute(APPEND_ONE_SQL, *(row[c] for c in ENTRY_COLUMNS), head["partition"], head["seq"],
                           head["hash"], head["signature"], head["key_id"], head["signed_at"],
                           *([o[c] for o in outbox] for c in ("id", "subject", "payload", "headers")),
                           notify_channel(SERVICE))
        return
    columns = [[row[c] for row in rows] for c in ENTRY_COLUMNS]
    heads_args = [[h["partition"] for h in heads], [h["seq"] for h in heads], [h["hash"] for h in heads],
                  [h["signature"] for h in heads], [h["key_id"] for h in heads], [h["signed_at"] for h in heads]]
    if not outbox and not batches:
        await conn.execute(APPEND_SQL, *columns, *heads_args)
        return
    events = [[o[c] for o in outbox] for c in ("id", "subject", "payload", "headers")]
    batch_args = [list(column) for column in zip(*batches, strict=True)] if batches else [[], [], [], [], []]
    await conn.execute(APPEND_WITH_BATCHES_SQL if batches else APPEND_WITH_EVENTS_SQL, *columns, *heads_args,
                       *events, *batch_args, notify_channel(SERVICE))


def _prefix_range(prefix: str) -> dict[str, str]:
    return {"lo": prefix, "hi": prefix + "\U0010ffff"}
