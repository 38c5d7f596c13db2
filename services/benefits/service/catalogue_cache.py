"""The scheme catalogue as posting checks it, kept in process.

Schemes, their rules and their departments' posters change rarely and are read by every posting:
reading them took one of a posting's round trips.  The cache holds every scheme with its current
rules parsed once, "not together with" made symmetric (``excluded_by``), and each department's
posters, under the catalogue's version (``benefits.catalogue_state``, set by a trigger on every
catalogue table to the writing transaction's id).  Posting's lookup statement returns the version
in the same round trip as everything else; when it differs from the cached one, the catalogue is
read again and the posting's checks start over, so no posting is judged against rules older than
its own lookup's snapshot.  One cache per engine (a process may serve several databases: tests).
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.benefits.repository import posting as repo
from services.benefits.rules.exclusivity import Exclusivity, Policy


@dataclass
class Catalogue:
    version: int
    schemes: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> the scheme's posting columns
    policies: dict[str, Policy] = field(default_factory=dict)
    exclusivity: dict[str, Exclusivity] = field(default_factory=dict)  # with excluded_by folded in
    posters: dict[str, frozenset[str]] = field(default_factory=dict)  # department -> its posters


_CACHES: weakref.WeakKeyDictionary[Any, Catalogue] = weakref.WeakKeyDictionary()


def key_of(bind: AsyncSession | AsyncEngine) -> Any:
    """The cache's key: the engine (of a session, or itself)."""
    engine = bind.bind if isinstance(bind, AsyncSession) else bind
    return getattr(engine, "sync_engine", engine)


def cached(key: Any) -> Catalogue | None:
    return _CACHES.get(key)


async def load(key: Any, conn: asyncpg.Connection) -> Catalogue:
    """Read the catalogue (one round trip) and keep it under ``key`` (``key_of``)."""
    version, rows = await repo.catalogue(conn)
    found = Catalogue(version)
    rules: dict[str, Exclusivity] = {}
    for row in rows:
        code = row["code"]
        found.schemes[code] = {c: row[c] for c in repo.CATALOGUE_COLUMNS}
        found.policies[code] = Policy.model_validate(json.loads(row["policy"]))
        rules[code] = Exclusivity.model_validate(json.loads(row["exclusivity"]))
        found.posters[row["department_code"]] = frozenset(row["posters"])
    excluded_by: dict[str, list[str]] = {}
    for code in sorted(rules):  # Y says "not with X": X may not go with Y either
        for other in rules[code].not_with:
            excluded_by.setdefault(other, []).append(code)
    for code, own in rules.items():
        extra = [c for c in excluded_by.get(code, []) if c not in own.not_with]
        found.exclusivity[code] = own.model_copy(update={"not_with": [*own.not_with, *extra]}) if extra else own
    _CACHES[key] = found
    return found
