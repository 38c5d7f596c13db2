"""Recompute stored name keys and search tokens after the name rules change.

The keys (``person.name_key``, ``father_key``, ``mother_key``) and ``person_name_token`` are
derived from the names by :mod:`services.registry.rules.names`; when those rules change
(e.g. honorifics matched on spelling, Bengali nukta letters), records written earlier keep
their old keys and name search or duplicate detection would miss them.  This brings every
person up to the current rules, in batches, touching only the records whose keys differ.
Derived keys are not a change to the record: no version bump, history or event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.models import person, person_name_token
from services.registry.rules.names import name_key, name_tokens

KEY_COLUMNS = ("name_key", "father_key", "mother_key")


def current_keys(row: RowMapping) -> dict[str, Any]:
    return {
        "name_key": name_key(row["full_name"]),
        "father_key": name_key(row["father_name"] or ""),
        "mother_key": name_key(row["mother_name"] or ""),
        "tokens": set(name_tokens(row["full_name"]) + name_tokens(row["name_latin"] or "")),
    }


async def _batch(session: AsyncSession, after: uuid.UUID | None, size: int) -> Sequence[RowMapping]:
    stmt = select(person.c.id, person.c.area_code, person.c.full_name, person.c.name_latin, person.c.father_name,
                  person.c.mother_name, *(person.c[k] for k in KEY_COLUMNS)).order_by(person.c.id).limit(size)
    if after is not None:
        stmt = stmt.where(person.c.id > after)
    return (await session.execute(stmt)).mappings().all()


async def _stored_tokens(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    out: dict[uuid.UUID, set[str]] = {pid: set() for pid in ids}
    rows = await session.execute(
        select(person_name_token.c.person_id, person_name_token.c.token).where(person_name_token.c.person_id.in_(ids)))
    for pid, token in rows:
        out[pid].add(token)
    return out


async def _write(session: AsyncSession, keys: list[dict[str, Any]], tokens: list[tuple[RowMapping, set[str]]]) -> None:
    if keys:
        stmt = update(person).where(person.c.id == bindparam("pid")).values(
            {k: bindparam(f"new_{k}") for k in KEY_COLUMNS})
        await session.execute(stmt, keys)
    if tokens:
        await session.execute(delete(person_name_token).where(
            person_name_token.c.person_id.in_([row["id"] for row, _ in tokens])))
        values = [{"person_id": row["id"], "token": t, "area_code": row["area_code"]}
                  for row, new in tokens for t in sorted(new)]
        if values:
            await session.execute(insert(person_name_token), values)


async def rekey_names(session: AsyncSession, *, batch_size: int = 2000) -> int:
    """Bring every person's name keys and tokens to the current rules; the number of persons changed."""
    changed: set[uuid.UUID] = set()
    after: uuid.UUID | None = None
    while rows := await _batch(session, after, batch_size):
        after = rows[-1]["id"]
        stored = await _stored_tokens(session, [r["id"] for r in rows])
        keys: list[dict[str, Any]] = []
        tokens: list[tuple[RowMapping, set[str]]] = []
        for row in rows:
            new = current_keys(row)
            if any(row[k] != new[k] for k in KEY_COLUMNS):
                keys.append({"pid": row["id"], **{f"new_{k}": new[k] for k in KEY_COLUMNS}})
                changed.add(row["id"])
            if stored[row["id"]] != new["tokens"]:
                tokens.append((row, new["tokens"]))
                changed.add(row["id"])
        await _write(session, keys, tokens)
    return len(changed)
