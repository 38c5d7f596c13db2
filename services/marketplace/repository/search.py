"""The nearest-worker query: KNN on the trade's lane of the GiST point index (see rules/geo.py).

``pos <@ box`` bounds the index scan to the search radius (an ORDER BY with only a distance
filter would keep walking past the radius when fewer than ``limit`` workers are near);
``ORDER BY pos <-> point`` makes the index return the nearest first; ``matchable`` selects the
partial index.  The outer join reads each candidate's rating, load and radius for re-ranking.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.marketplace.rules.availability import Shift, ShiftException
from services.marketplace.rules.geo import lane_point, search_box
from services.marketplace.rules.matching import Candidate

NEAREST_SQL = (
    "SELECT w.id, w.vendor_id, w.name, w.lat, w.lon, w.rating_sum, w.rating_count, w.active_jobs, w.service_radius_km, "
    # Each candidate's weekly shifts and the day's exceptions come along (one round trip in all).
    " (SELECT json_agg(json_build_array(sh.weekday, sh.starts, sh.ends)) FROM marketplace.worker_shift sh "
    "  WHERE sh.worker_id = w.id) AS shifts, "
    " (SELECT json_agg(json_build_array(e.on_date, e.available, e.starts, e.ends)) "
    "  FROM marketplace.worker_shift_exception e WHERE e.worker_id = w.id AND e.on_date = $9) AS exceptions "
    "FROM (SELECT worker_id, pos <-> point($1, $2) AS d FROM marketplace.worker_skill "
    "      WHERE matchable AND pos <@ box(point($3, $4), point($5, $6)) AND worker_id <> ALL($7::uuid[]) "
    "      ORDER BY pos <-> point($1, $2) LIMIT $8) s "
    "JOIN marketplace.worker w ON w.id = s.worker_id ORDER BY s.d, w.id"
)
_NEAREST = text(NEAREST_SQL.replace("$1", ":x").replace("$2", ":y").replace("$3", ":x1").replace("$4", ":y1")
                .replace("$5", ":x2").replace("$6", ":y2").replace("$7::uuid[]", "CAST(:tried AS uuid[])")
                .replace("$8", ":limit").replace("$9", ":day"))


def nearest_params(lat: float, lon: float, radius_km: float, skill_no: int, exclude: Sequence[uuid.UUID],
                   limit: int, day: date) -> tuple[Any, ...]:
    x, y = lane_point(lon, lat, skill_no)
    x1, y1, x2, y2 = search_box(lon, lat, radius_km, skill_no)
    return (x, y, x1, y1, x2, y2, list(exclude), limit, day)


def _shifts(raw: list[list[Any]] | None) -> list[Shift]:
    return [Shift(int(d), time.fromisoformat(s), time.fromisoformat(e)) for d, s, e in raw or []]


def _exceptions(raw: list[list[Any]] | None) -> list[ShiftException]:
    return [ShiftException(date.fromisoformat(d), bool(a), time.fromisoformat(s) if s else None,
                           time.fromisoformat(e) if e else None) for d, a, s, e in raw or []]


async def nearest(session: AsyncSession, *, lat: float, lon: float, radius_km: float, skill_no: int,
                  exclude: Sequence[uuid.UUID], limit: int, day: date
                  ) -> list[tuple[Candidate, list[Shift], list[ShiftException]]]:
    """Candidates nearest first, each with its weekly shifts and its exceptions on ``day``."""
    x, y, x1, y1, x2, y2, tried, n, on = nearest_params(lat, lon, radius_km, skill_no, exclude, limit, day)
    result = await session.execute(_NEAREST, {"x": x, "y": y, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                                              "tried": tried, "limit": n, "day": on})
    return [(Candidate(r.id, r.vendor_id, r.name, r.lat, r.lon, r.rating_sum, r.rating_count, r.active_jobs,
                       r.service_radius_km), _shifts(r.shifts), _exceptions(r.exceptions)) for r in result]
