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
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from services.marketplace.repository.common import positional
from services.marketplace.rules.availability import Shift, ShiftException
from services.marketplace.rules.geo import EARTH_RADIUS_KM, lane_point, search_box
from services.marketplace.rules.matching import LOAD_WEIGHT_KM, RATING_WEIGHT_KM, UNRATED, Candidate

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


# The booking's form of the search: the same index scan, ranked and filtered in the statement as
# rules/matching.py's rank (haversine km within both radii; score = km + rating and load weights; ties by
# id, which PostgreSQL orders as str(uuid) does) and rules/availability.py's on_shift (that day's
# exception wins; no weekly template = always) do for GET /search, so the booking's statement can pick
# and claim its worker itself (repository/bookings.py). Turning the 24 candidates into Python objects
# (51 UUIDs, shifts, 24 haversines) was about a fifth of a booking's CPU in process (docs/marketplace.md);
# tests/marketplace/test_matching.py checks that bookings are offered in the search's order.
_KM = (f"2 * {EARTH_RADIUS_KM!r} * asin(least(1.0, sqrt(power(sin(radians(w.lat - :lat) / 2), 2)"
       " + cos(radians(:lat)) * cos(radians(w.lat)) * power(sin(radians(w.lon - :lon) / 2), 2))))")
_SCORE = (f"round(CAST(k.km + {RATING_WEIGHT_KM!r} * (5.0 - CASE WHEN w.rating_count > 0"
          f" THEN CAST(w.rating_sum AS float8) / w.rating_count ELSE {UNRATED!r} END)"
          f" + {LOAD_WEIGHT_KM!r} * w.active_jobs AS numeric), 9)")
_CLOCK = "CAST(:clock AS time)"
_ON_SHIFT = (
    f"CASE WHEN e.x IS NOT NULL THEN CAST(e.x ->> 1 AS boolean) AND (e.x ->> 2 IS NULL OR e.x ->> 3 IS NULL"
    f" OR (CAST(e.x ->> 2 AS time) <= {_CLOCK} AND {_CLOCK} < CAST(e.x ->> 3 AS time)))"
    " ELSE jsonb_array_length(w.schedule -> 'shifts') = 0 OR EXISTS (SELECT 1 FROM"
    " jsonb_array_elements(w.schedule -> 'shifts') t WHERE CAST(t ->> 0 AS int) = :weekday"
    f" AND CAST(t ->> 1 AS time) <= {_CLOCK} AND {_CLOCK} < CAST(t ->> 2 AS time)) END"
)
_RANKED = (
    f"SELECT w.id, k.km, {_SCORE} AS score"
    " FROM (SELECT worker_id FROM marketplace.worker_skill WHERE matchable AND pos <@ box(point(:x1, :y1),"
    "  point(:x2, :y2)) ORDER BY pos <-> point(:x, :y) LIMIT {limit}) s"
    " JOIN marketplace.worker w ON w.id = s.worker_id"
    f" CROSS JOIN LATERAL (SELECT {_KM} AS km) k"
    " LEFT JOIN LATERAL (SELECT x FROM jsonb_array_elements(w.schedule -> 'exceptions') x WHERE x ->> 0 = :day"
    "  LIMIT 1) e ON true"
    f" WHERE k.km <= :max_radius_km AND k.km <= w.service_radius_km AND {_ON_SHIFT}"
)


def ranked_text_sql(limit: int, *, also: str = "true") -> str:
    """The booking's candidates as rows ``id, km, score`` (lower is better; unordered), worker row ``w``
    also meeting ``also``.  Named parameters: :func:`ranked_named` and the booking's ``lat``, ``lon`` and
    ``max_radius_km``."""
    return _RANKED.replace("{limit}", str(int(limit))) + f" AND ({also})"


def ranked_named(lat: float, lon: float, radius_km: float, skill_no: int, moment: datetime) -> dict[str, Any]:
    """The search parameters of :func:`ranked_text_sql` for a booking at the local ``moment``."""
    x, y = lane_point(lon, lat, skill_no)
    x1, y1, x2, y2 = search_box(lon, lat, radius_km, skill_no)
    return {"x": x, "y": y, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "day": moment.date().isoformat(),
            "clock": moment.time().replace(tzinfo=None), "weekday": moment.weekday()}


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
