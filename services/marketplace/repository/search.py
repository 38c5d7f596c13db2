"""The nearest-worker query: KNN on the trade's lane of the GiST point index (see rules/geo.py).

``pos <@ box`` bounds the index scan to the search radius (an ORDER BY with only a distance
filter would keep walking past the radius when fewer than ``limit`` workers are near);
``ORDER BY pos <-> point`` makes the index return the nearest first; ``matchable`` selects the
partial index.  The outer join reads each candidate's rating, load and radius for re-ranking,
and its weekly shifts and that day's exceptions from the row's copy of them (``worker.schedule``):
one round trip in all, and no index probe per candidate beyond the worker row.

The candidate count is written into the statement, not bound: a prepared statement with a bound
LIMIT may be planned generically (the planner cannot see how small the LIMIT is).  The same query
runs in a request's session (booking, Beckn) or, for ``GET /search``, as a prepared statement on
the runtime's statement pool (no ORM layer, no transaction round trips; see bench/marketplace_bench.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, time
from functools import lru_cache
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from services.marketplace.repository.common import positional
from services.marketplace.rules.availability import Shift, ShiftException
from services.marketplace.rules.geo import lane_point, search_box
from services.marketplace.rules.matching import Candidate

_NEAREST = (
    "SELECT w.id, w.vendor_id, w.name, w.lat, w.lon, w.rating_sum, w.rating_count, w.active_jobs, w.service_radius_km, "
    " w.schedule -> 'shifts' AS shifts, "
    " (SELECT jsonb_agg(x) FROM jsonb_array_elements(w.schedule -> 'exceptions') x WHERE x ->> 0 = $8) AS exceptions "
    "FROM (SELECT worker_id, pos <-> point($1, $2) AS d FROM marketplace.worker_skill "
    "      WHERE matchable AND pos <@ box(point($3, $4), point($5, $6)) AND worker_id <> ALL($7::uuid[]) "
    "      ORDER BY pos <-> point($1, $2) LIMIT {limit}) s "
    "JOIN marketplace.worker w ON w.id = s.worker_id ORDER BY s.d, w.id"
)
_NAMES = ("x", "y", "x1", "y1", "x2", "y2", "tried", "day")
LANE_SQL = "SELECT skill_no FROM marketplace.category WHERE code = $1"

Db: TypeAlias = "AsyncSession | asyncpg.Pool | asyncpg.Connection"


def nearest_sql(limit: int) -> str:
    """The statement for ``limit`` candidates (asyncpg placeholders $1..$8, see :func:`nearest_params`)."""
    return _NEAREST.format(limit=int(limit))


CANDIDATE_COLUMNS = ("id", "vendor_id", "name", "lat", "lon", "rating_sum", "rating_count", "active_jobs",
                     "service_radius_km", "shifts", "exceptions")


def nearest_text_sql(limit: int) -> str:
    """The same statement with named parameters (``nearest_named``), for a session or a bigger statement."""
    sql = nearest_sql(limit).replace("$7::uuid[]", "CAST(:tried AS uuid[])")
    for number in range(8, 0, -1):
        sql = sql.replace(f"${number}", f":{_NAMES[number - 1]}")
    return sql


@lru_cache(maxsize=16)
def _nearest_text(limit: int) -> TextualSelect:
    return positional(nearest_text_sql(limit), CANDIDATE_COLUMNS)


def nearest_named(lat: float, lon: float, radius_km: float, skill_no: int, exclude: Sequence[uuid.UUID],
                  day: date) -> dict[str, Any]:
    return dict(zip(_NAMES, nearest_params(lat, lon, radius_km, skill_no, exclude, day), strict=True))


def nearest_params(lat: float, lon: float, radius_km: float, skill_no: int, exclude: Sequence[uuid.UUID],
                   day: date) -> tuple[Any, ...]:
    x, y = lane_point(lon, lat, skill_no)
    x1, y1, x2, y2 = search_box(lon, lat, radius_km, skill_no)
    return (x, y, x1, y1, x2, y2, list(exclude), day.isoformat())


def _json(raw: Any) -> list[list[Any]]:
    return (json.loads(raw) if isinstance(raw, str) else raw) or []


def _shifts(raw: Any) -> list[Shift]:
    return [Shift(int(d), time.fromisoformat(s), time.fromisoformat(e)) for d, s, e in _json(raw)]


def _exceptions(raw: Any) -> list[ShiftException]:
    return [ShiftException(date.fromisoformat(d), bool(a), time.fromisoformat(s) if s else None,
                           time.fromisoformat(e) if e else None) for d, a, s, e in _json(raw)]


async def lane(db: Db, category_code: str) -> int | None:
    if isinstance(db, AsyncSession):
        return await db.scalar(text("SELECT skill_no FROM marketplace.category WHERE code = :code"),
                               {"code": category_code})
    return await db.fetchval(LANE_SQL, category_code)  # type: ignore[no-any-return]


async def nearest(db: Db, *, lat: float, lon: float, radius_km: float, skill_no: int,
                  exclude: Sequence[uuid.UUID], limit: int, day: date
                  ) -> list[tuple[Candidate, list[Shift], list[ShiftException]]]:
    """Candidates nearest first, each with its weekly shifts and its exceptions on ``day``."""
    params = nearest_params(lat, lon, radius_km, skill_no, exclude, day)
    rows: Sequence[Mapping[Any, Any]]
    if isinstance(db, AsyncSession):
        rows = (await db.execute(_nearest_text(limit), dict(zip(_NAMES, params, strict=True)))).mappings().all()
    else:
        rows = await db.fetch(nearest_sql(limit), *params)
    return [(Candidate(r["id"], r["vendor_id"], r["name"], r["lat"], r["lon"], r["rating_sum"], r["rating_count"],
                       r["active_jobs"], r["service_radius_km"]), _shifts(r["shifts"]), _exceptions(r["exceptions"]))
            for r in rows]


def from_json(items: Sequence[Sequence[Any]]) -> list[tuple[Candidate, list[Shift], list[ShiftException]]]:
    """Candidates as the booking's insert returns them (JSON lists of ``CANDIDATE_COLUMNS``)."""
    return [(Candidate(uuid.UUID(i), uuid.UUID(v), name, lat, lon, rs, rc, jobs, radius), _shifts(shifts),
             _exceptions(exceptions))
            for i, v, name, lat, lon, rs, rc, jobs, radius, shifts, exceptions in items]
