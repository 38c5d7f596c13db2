"""Pairs into persons, with a guard against chaining.

Links (pairs at or above the threshold) are taken strongest first (union-find).  Two groups are
joined only if no pair across them was scored as a clear non-match (below ``cannot_link``) and the
joined group stays at or under ``max_size`` records: a weak link A~B must not make A one person with
everyone B was linked to, when A and some C were compared and found to be different people.  So the
caller passes every compared pair, not only the links: the clear non-matches are what the guard reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


def clusters(n: int, left: npt.NDArray[Any], right: npt.NDArray[Any], prob: npt.NDArray[np.float64], *,
             threshold: float, cannot_link: float = 0.05, max_size: int = 8) -> I64:
    """A cluster label per record (the smallest member index of its cluster).  ``left``, ``right``,
    ``prob``: every compared pair (a million records give tens of millions; only the links and the
    clear non-matches between linked records are kept in memory)."""
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    links = np.nonzero(prob >= threshold)[0]
    linked = np.zeros(n, dtype=bool)
    linked[left[links]] = linked[right[links]] = True
    # A clear non-match matters only between two records that some link could put in one group.
    apart = np.nonzero((prob < cannot_link) & linked[left] & linked[right])[0]
    forbidden = np.unique(_code(left[apart], right[apart], n))
    parent = np.arange(n, dtype=np.int64)
    members: dict[int, list[int]] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for k in links[np.argsort(-prob[links], kind="stable")]:
        ra, rb = find(int(left[k])), find(int(right[k]))
        if ra == rb:
            continue
        group_a, group_b = members.get(ra, [ra]), members.get(rb, [rb])
        if len(group_a) + len(group_b) > max_size:
            continue
        # Two single records: their own pair is the link, so it cannot be a clear non-match.
        if (len(group_a) > 1 or len(group_b) > 1) and _conflict(group_a, group_b, forbidden, n):
            continue
        root, other = (ra, rb) if ra < rb else (rb, ra)
        parent[other] = root
        members[root] = group_a + group_b
        members.pop(other, None)
    return np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)


def consistent(labels: I64, left: npt.NDArray[Any], right: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Which pairs join two records of one cluster (a link the guard refused is not one)."""
    return np.asarray(labels[left] == labels[right])


def _code(a: I64, b: I64, n: int) -> I64:
    return np.minimum(a, b) * n + np.maximum(a, b)


def _conflict(a: list[int], b: list[int], forbidden: I64, n: int) -> bool:
    if not len(forbidden):
        return False
    x, y = np.meshgrid(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    codes = _code(x.ravel(), y.ravel(), n)
    at = np.minimum(np.searchsorted(forbidden, codes), len(forbidden) - 1)
    return bool((forbidden[at] == codes).any())
