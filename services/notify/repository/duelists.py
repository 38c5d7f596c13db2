"""Schedules (versioned), doses given, and the due-list query.

The due list is one set-based statement: each contact in the area with its doses gathered into two
arrays (one index probe per person), paired with the active schedule's items whose age window can
include it (``base <= on - min_age + lead`` and ``base >= on - upper``), then filtered to the due and
overdue windows of ``rules.uip`` (the dose itself absent, its predecessor given in time).  Measured on
200,000 children: 99 s when each pair probed ``dose_given`` twice, 16 s with the arrays (bench).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import dose_given, schedule_item, schedule_version
from services.notify.repository.common import all_rows, one_or_none

_PEOPLE = """{name} AS MATERIALIZED (
  SELECT c.person_id, c.full_name, c.area_code, c.phones, c.preferred_language, {base} AS base, g.codes, g.dates
  FROM notify.contact c
  LEFT JOIN LATERAL (SELECT array_agg(dg.code) AS codes, array_agg(dg.given_on) AS dates
                     FROM notify.dose_given dg WHERE dg.person_id = c.person_id) g ON true
  WHERE c.status = 'active' AND c.area_code LIKE :area_like AND {base} IS NOT NULL {extra})"""
_PAIRS = """
SELECT k.person_id, k.full_name, k.area_code, k.phones, k.preferred_language, s.target, s.code, s.vaccine, s.dose,
       d.due AS due_on, CASE WHEN CAST(:on AS date) <= d.due + s.grace_days THEN 'due' ELSE 'overdue' END AS status,
       GREATEST(CAST(:on AS date) - (d.due + s.grace_days), 0) AS days_overdue, s.min_age_days
FROM {name} k
JOIN notify.schedule_item s ON s.version = :version AND s.target = '{target}'
     AND k.base <= CAST(:on AS date) - s.min_age_days + s.lead_days
     AND (s.upper_age_days IS NULL OR k.base >= CAST(:on AS date) - s.upper_age_days)
CROSS JOIN LATERAL (SELECT k.dates[array_position(k.codes, s.predecessor)] AS pred_on) x
CROSS JOIN LATERAL (SELECT CASE WHEN s.predecessor IS NULL THEN k.base + s.min_age_days
                   ELSE GREATEST(k.base + s.min_age_days, x.pred_on + s.min_gap_days) END AS due) d
WHERE array_position(k.codes, s.code) IS NULL
  AND (s.area_prefixes IS NULL OR EXISTS (SELECT 1 FROM unnest(s.area_prefixes) a(prefix)
                                          WHERE k.area_code LIKE a.prefix || '%'))
  AND (s.predecessor IS NULL OR (x.pred_on IS NOT NULL AND (s.predecessor_before_age_days IS NULL
                                 OR x.pred_on <= k.base + s.predecessor_before_age_days)))
  AND CAST(:on AS date) >= d.due - s.lead_days
"""
# Each person's doses are gathered once (a materialised CTE), not once per schedule item.
DUE_SQL = ("WITH " + _PEOPLE.format(name="kids", base="c.birth_date", extra="") + ", "
           + _PEOPLE.format(name="mothers", base="c.pregnancy_registered_on", extra="AND c.pregnant")
           + _PAIRS.format(name="kids", target="child") + " UNION ALL "
           + _PAIRS.format(name="mothers", target="pregnancy"))


def _like(area_prefix: str) -> str:
    return area_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def due_page(session: AsyncSession, *, version: str, area_prefix: str, on: date, limit: int,
                   offset: int) -> tuple[list[RowMapping], int]:
    params = {"version": version, "area_like": _like(area_prefix), "on": on}
    total = await session.scalar(text(f"SELECT count(*) FROM ({DUE_SQL}) x"), params)
    rows = (await session.execute(text(
        f"SELECT * FROM ({DUE_SQL}) x ORDER BY area_code, person_id, min_age_days, code LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset})).mappings().all()
    return list(rows), int(total or 0)


async def due_all(session: AsyncSession, *, version: str, area_prefix: str, on: date) -> Sequence[RowMapping]:
    stmt = text(f"SELECT * FROM ({DUE_SQL}) x ORDER BY area_code, person_id, min_age_days, code")
    return (await session.execute(stmt, {"version": version, "area_like": _like(area_prefix), "on": on})
            ).mappings().all()


async def due_counts_by_area(session: AsyncSession, *, version: str, on: date) -> dict[str, int]:
    rows = await session.execute(text(f"SELECT area_code, count(*) FROM ({DUE_SQL}) x GROUP BY area_code"),
                                 {"version": version, "area_like": "%", "on": on})
    return {r[0]: int(r[1]) for r in rows}


async def add_schedule(session: AsyncSession, *, version: str, name: str, source: str | None,
                       items: Sequence[dict[str, Any]]) -> bool:
    inserted = await one_or_none(session, pg_insert(schedule_version).values(
        version=version, name=name, source=source).on_conflict_do_nothing().returning(schedule_version.c.version))
    if inserted is None:
        return False
    await session.execute(schedule_item.insert(), [{**item, "version": version} for item in items])
    return True


async def activate(session: AsyncSession, version: str) -> None:
    await session.execute(update(schedule_version).where(schedule_version.c.active).values(active=False))
    await session.execute(update(schedule_version).where(schedule_version.c.version == version).values(active=True))


async def active_version(session: AsyncSession) -> RowMapping | None:
    return await one_or_none(session, select(schedule_version).where(schedule_version.c.active))


async def versions(session: AsyncSession) -> Sequence[RowMapping]:
    return await all_rows(session, select(schedule_version).order_by(schedule_version.c.created_at,
                                                                      schedule_version.c.version))


async def items_of(session: AsyncSession, version: str) -> Sequence[RowMapping]:
    return await all_rows(session, select(schedule_item).where(schedule_item.c.version == version)
                          .order_by(schedule_item.c.target, schedule_item.c.min_age_days, schedule_item.c.code))


async def record_dose(session: AsyncSession, values: dict[str, Any]) -> bool:
    row = await one_or_none(session, pg_insert(dose_given).values(**values)
                            .on_conflict_do_nothing(index_elements=["person_id", "code"])
                            .returning(dose_given.c.code))
    return row is not None


async def doses_of(session: AsyncSession, person_id: uuid.UUID) -> Sequence[RowMapping]:
    return await all_rows(session, select(dose_given).where(dose_given.c.person_id == person_id)
                          .order_by(dose_given.c.given_on, dose_given.c.code))


async def contacts_freshness(session: AsyncSession) -> str | None:
    value = await session.scalar(text("SELECT max(updated_at) FROM notify.contact"))
    return value.isoformat() if value else None
