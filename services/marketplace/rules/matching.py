"""Ranking of nearby workers: distance first, then rating, then current load."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from services.marketplace.rules.geo import haversine_km

# A km of distance weighs as much as this many points of score; a star of rating (out of 5) as
# RATING_WEIGHT km; each job in hand as LOAD_WEIGHT km.  So a 4.8-star worker 2 km further away
# than a 3.8-star one still loses unless the gap is under RATING_WEIGHT km.
RATING_WEIGHT_KM = 1.5
LOAD_WEIGHT_KM = 2.0
UNRATED = 4.0  # a new worker ranks like a good one, so newcomers get work


@dataclass(frozen=True)
class Candidate:
    worker_id: uuid.UUID
    vendor_id: uuid.UUID
    name: str
    lat: float
    lon: float
    rating_sum: int
    rating_count: int
    active_jobs: int
    service_radius_km: float

    @property
    def rating(self) -> float:
        return self.rating_sum / self.rating_count if self.rating_count else UNRATED


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    distance_km: float
    score: float


def score(distance_km: float, rating: float, active_jobs: int) -> float:
    """Lower is better; in kilometre-equivalents."""
    return distance_km + RATING_WEIGHT_KM * (5.0 - rating) + LOAD_WEIGHT_KM * active_jobs


def rank(candidates: Iterable[Candidate], lat: float, lon: float, max_radius_km: float) -> list[Ranked]:
    """Candidates within both the search radius and their own service radius, best first.

    Ties are broken by worker id so the order is stable."""
    out = []
    for c in candidates:
        distance = haversine_km(lat, lon, c.lat, c.lon)
        if distance <= max_radius_km and distance <= c.service_radius_km:
            out.append(Ranked(c, distance, score(distance, c.rating, c.active_jobs)))
    out.sort(key=lambda r: (round(r.score, 9), str(r.candidate.worker_id)))
    return out
