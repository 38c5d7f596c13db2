"""Ledger entries, chain heads and chain verification in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, insert, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from services.benefits.models import chain_head, entry
from services.benefits.repository.common import all_rows, any_of, one_or_none, page
from services.benefits.rules.chain import CONTENT_FIELDS, GENESIS


def _sql_text(column: str) -> str:
    """SQL for ``rules.chain._text`` of one column: ``<length>:<text>``, ``-`` when NULL."""
    if column in ("delivered_on",):
        value = f"to_char({column}, 'YYYY-MM-DD')"
    elif column == "recorded_at":
        value = f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
    else:
        value = f"{column}::text"
    return f"coalesce(length({value})::text || ':' || {value}, '-')"


# The canonical content of an entry, as rules/chain.content computes it in Python.
CONTENT_SQL = " || ".join(_sql_text(c) for c in CONTENT_FIELDS)
GENESIS_SQL = "'\\x" + GENESIS.hex() + "'::bytea"

# Per partition: the first row whose stored hash is not the hash of its own content (a changed
# row), the first row whose link does not match the row before it (a removed, inserted or
# reordered row, or a rewritten hash), the row count and last seq.  Row-local hashing runs in
# parallel workers; the link check is a cheap window over the (partition, seq) index.
VERIFY_HASHES_SQL = f"""
SELECT partition, count(*) AS entries, max(seq) AS last_seq,
       min(seq) FILTER (WHERE hash <> sha256(prev_hash || convert_to({CONTENT_SQL}, 'UTF8'))) AS first_bad_hash
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


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_department_refs(self, department_refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RowMapping]:
        if not department_refs:
            return {}
        by_dept: dict[str, list[str]] = {}
        for dept, ref in department_refs:
            by_dept.setdefault(dept, []).append(ref)
        cond = or_(*[and_(entry.c.department_code == d, any_of(entry.c.department_ref, refs))
                     for d, refs in by_dept.items()])
        rows = await all_rows(self.session, select(entry).where(cond))
        return {(r["department_code"], r["department_ref"]): r for r in rows}

    async def live_grants(self, *, schemes: Sequence[str], persons: Sequence[uuid.UUID],
                          households: Sequence[uuid.UUID], start: date, end: date) -> list[RowMapping]:
        """Grants of these schemes to these persons or households overlapping [start, end] that were not
        reversed or recovered."""
        subject = []
        if persons:
            subject.append(any_of(entry.c.person_id, persons))
        if households:
            subject.append(any_of(entry.c.household_id, households))
        if not subject or not schemes:
            return []
        undone = entry.alias("undone")
        stmt = (
            select(entry.c.id, entry.c.scheme_code, entry.c.person_id, entry.c.household_id, entry.c.period_start,
                   entry.c.period_end, entry.c.recorded_at)
            .where(entry.c.kind == "grant", any_of(entry.c.scheme_code, schemes), or_(*subject),
                   entry.c.period_start <= end, entry.c.period_end >= start)
            .where(~select(undone.c.id).where(undone.c.reverses_id == entry.c.id).exists())
        )
        return list(await all_rows(self.session, stmt))

    async def live_grants_of_persons(self, person_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        """Every grant to these persons that was not reversed or recovered (the sweep's input)."""
        undone = entry.alias("undone")
        stmt = (select(entry).where(entry.c.kind == "grant", entry.c.person_id.in_(list(person_ids)))
                .where(~select(undone.c.id).where(undone.c.reverses_id == entry.c.id).exists()))
        return list(await all_rows(self.session, stmt))

    async def lock_heads(self, partitions: Sequence[str]) -> dict[str, RowMapping]:
        """Lock the chain heads of ``partitions``, creating missing ones, in one statement: the no-op
        DO UPDATE takes each row's lock and returns it as it is.  Rows are inserted in sorted order, so
        two writers never deadlock."""
        ordered = sorted(set(partitions))
        stmt = pg_insert(chain_head).values([
            {"partition": p, "seq": 0, "hash": GENESIS, "signature": b"", "key_id": "", "signed_at": text("now()")}
            for p in ordered])
        stmt = stmt.on_conflict_do_update(index_elements=["partition"], set_={"partition": stmt.excluded.partition})
        rows = await all_rows(self.session, stmt.returning(chain_head))
        return {r["partition"]: r for r in rows}

    async def insert_entries(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(entry), list(rows))

    async def update_heads(self, heads: Sequence[dict[str, Any]]) -> None:
        for head in heads:
            await self.session.execute(
                chain_head.update().where(chain_head.c.partition == head["partition"]).values(**head))

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


def _prefix_range(prefix: str) -> dict[str, str]:
    return {"lo": prefix, "hi": prefix + "\U0010ffff"}
