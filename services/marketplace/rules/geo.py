"""Positions for the nearest-worker search on core PostgreSQL's ``point``/GiST (no PostGIS).

The rare-skill trap: a GiST KNN scan over every worker ordered by distance, filtered by trade,
walks tens of thousands of nearer workers of other trades before it meets the tenth electrician
of a rare trade.  A composite ``(skill, point)`` GiST needs ``btree_gist``, an extension.  Here
each trade gets its own *lane* of the x axis instead: a worker's skill row stores
``(lon + LANE_WIDTH * skill_no, lat)``.  Lanes are 400 degrees apart (longitudes span 360), so a
box around the shifted search point only ever holds that trade's workers, and one GiST index
(partial: ``WHERE matchable``) answers any trade in a handful of page reads.

Distances in the index are in degrees, where a degree of longitude is shorter than one of
latitude (cos(lat)); the box is sized in each axis separately, and candidates are re-ranked by
the haversine distance in kilometres.
"""

from __future__ import annotations

import math

LANE_WIDTH = 400.0
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_LAT = 110.574


def lane_point(lon: float, lat: float, skill_no: int) -> tuple[float, float]:
    return (lon + LANE_WIDTH * skill_no, lat)


def search_box(lon: float, lat: float, radius_km: float, skill_no: int) -> tuple[float, float, float, float]:
    """(x1, y1, x2, y2) of the box that holds every point of the trade's lane within ``radius_km``."""
    dy = radius_km / KM_PER_DEGREE_LAT
    # The widest longitude span inside the circle is at the latitude nearest a pole.
    far_lat = min(abs(lat) + dy, 89.0)
    dx = radius_km / (111.320 * math.cos(math.radians(far_lat)))
    x, y = lane_point(lon, lat, skill_no)
    return (x - dx, y - dy, x + dx, y + dy)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
