"""Schedules (versioned), doses given, the actionable doses kept per person, and the due-list query.

Everything that decides a dose's window except the day itself is known when a person's facts change:
birth date or pregnancy, area, doses given, the active schedule.  So ``actionable_dose`` holds, per person,
each schedule item whose dose is not given and whose predecessor was given in time, with its due date and
window (``rules.uip``: due from ``due - lead``, overdue after ``due + grace``, missed after the upper age).
It is recomputed for one person on each registry event and recorded dose, and for everybody when a schedule
version is activated.  A day's list is then a range filter on that table joined to the contact
(measured on 1M children in ``bench/notify_bench.py``; the person x schedule evaluation it replaces took
185 s there).  ``tests/notify/test_duelists.py`` holds the list equal to ``rules.uip`` on a varied population.
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
  SELECT c.person_id, c.area_code, {base} AS base, g.codes, g.dates
  FROM notify.contact c
  LEFT JOIN LATERAL (SELECT array_agg(dg.code) AS codes, array_agg(dg.given_on) AS dates
                     FROM notify.dose_given dg WHERE dg.person_id = c.person_id) g ON true
  WHERE c.status = 'active' AND {base} IS NOT NULL {extra})"""
_PAIRS = """
SELECT k.person_id, s.code, s.version, k.area_code, s.target, s.vaccine, s.dose, s.min_age_days, d.due,
       d.due - s.lead_days, d.due + s.grace_days, k.base + s.upper_age_days
FROM {name} k
JOIN notify.schedule_item s ON s.version = :version AND s.target = '{target}'
CROSS JOIN LATERAL (SELECT k.dates[array_position(k.codes, s.predecessor)] AS pred_on) x
CROSS JOIN LATERAL (SELECT CASE WHEN s.predecessor IS NULL THEN k.base + s.min_age_days
                   ELSE GREATEST(k.base + s.min_age_days, x.pred_on + s.min_gap_days) END AS due) d
WHERE array_position(k.codes, s.code) IS NULL
  AND (s.area_prefixes IS NULL OR EXISTS (SELECT 1 FROM unnest(s.area_prefixes) a(prefix)
                                          WHERE k.area_code LIKE a.prefix || '%'))
  AND (s.predecessor IS NULL OR (x.pred_on IS NOT NULL AND (s.predecessor_before_age_days IS NULL
                                 OR x.pred_on <= k.base + s.predecessor_before_age_days)))
"""


def rebuild_sql(*, persons: bool) -> str:
    """The actionable doses of every active person (or of ``:persons``) under schedule ``:version``, in the
    column order of ``actionable_dose``.  Each person's doses are gathered once (a materialised CTE)."""
    only = "AND c.person_id = ANY(CAST(:persons AS uuid[]))" if persons else ""
    return ("WITH " + _PEOPLE.format(name="kids", base="c.birth_date", extra=only) + ", "
            + _PEOPLE.format(name="mothers", base="c.pregnancy_registered_on", extra=f"AND c.pregnant {only}")
            + _PAIRS.format(name="kids", target="child") + " UNION ALL " + _PAIRS.format(name="mothers",
                                                                                     target="pregnancy"))


# A day's list: the actionable doses whose window holds ``on`` (the person's name, phones and language from
# the contact).  ``due`` until the grace period ends, ``overdue`` until the upper age limit, then missed.
DUE_SQL = """
SELECT a.person_id, c.full_name, a.area_code, c.phones, c.preferred_language, a.target, a.code, a.vaccine, a.dose,
       a.due_on, CASE WHEN CAST(:on AS date) <= a.grace_until THEN 'due' ELSE 'overdue' END AS status,
       GREATEST(CAST(:on AS date) - a.grace_until, 0) AS days_overdue, a.min_age_days
FROM notify.actionable_dose a JOIN notify.contact c ON c.person_id = a.person_id
WHERE a.version = :version AND a.area_code LIKE :area_like AND a.list_from <= CAST(:on AS date)
  AND (a.list_until IS NULL OR CAST(:on AS date) <= a.list_until)
"""


async def refresh_actionable(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> None:
    """Recompute these persons' actionable doses (after a registry event or a recorded dose)."""
    version = await session.scalar(select(schedule_version.c.version).where(schedule_version.c.active))
    await session.execute(text("DELETE FROM notify.actionable_dose WHERE person_id = ANY(CAST(:persons AS uuid[]))"),
                          {"persons": list(person_ids)})
    if version is not None:
        await session.execute(text("INSERT INTO notify.actionable_dose " + rebuild_sql(persons=True)),
                              {"version": version, "persons": list(person_ids)})


async def rebuild_actionable(session: AsyncSession, version: str) -> None:
    """Every person's actionable doses under ``version`` (a schedule was activated).  Rare and long (about a
    minute per 300,000 children on the loaded 2-core machine), so it lifts the statement timeout for its own
    transaction, as a bulk import does."""
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    await session.execute(text("DELETE FROM notify.actionable_dose"))
    # In key order the primary key's B-tree is filled page after page (random person ids halved the build
    # at 300,000 children); ANALYZE at once, so the first lists after it plan on the new size.
    await session.execute(text("INSERT INTO notify.actionable_dose SELECT * FROM (" + rebuild_sql(persons=False)
                               + ") AS fresh ORDER BY 1, 2"), {"version": version})
    await session.execute(text("ANALYZE notify.actionable_dose"))


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
