"""Pairs into persons, with a guard against chaining.

Links are taken strongest first (union-find).  Two groups are joined only if no pair across them was
scored as a clear non-match (below ``cannot_link``) and the joined group stays at or under
``max_size`` records: a weak link A~B must not make A one person with everyone B was linked to, when
A and some C were compared and found to be different people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def clusters(n: int, left: npt.NDArray[Any], right: npt.NDArray[Any], prob: npt.NDArray[np.float64], *,
             threshold: float, cannot_link: float = 0.05, max_size: int = 8) -> npt.NDArray[np.int64]:
    """A cluster label per record (the smallest member index of its cluster)."""
    parent = np.arange(n, dtype=np.int64)
    members: dict[int, list[int]] = {}
    scored = {(int(a), int(b)): float(p) for a, b, p in zip(left, right, prob, strict=True)}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for k in np.argsort(-prob, kind="stable"):
        if prob[k] < threshold:
            break
        ra, rb = find(int(left[k])), find(int(right[k]))
        if ra == rb:
            continue
        group_a, group_b = members.get(ra, [ra]), members.get(rb, [rb])
        if len(group_a) + len(group_b) > max_size or _conflict(group_a, group_b, scored, cannot_link):
            continue
        root, other = (ra, rb) if ra < rb else (rb, ra)
        parent[other] = root
        members[root] = group_a + group_b
        members.pop(other, None)
    return np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)


def _conflict(a: Sequence[int], b: Sequence[int], scored: dict[tuple[int, int], float], floor: float) -> bool:
    for x in a:
        for y in b:
            p = scored.get((x, y) if x < y else (y, x))
            if p is not None and p < floor:
                return True
    return False
