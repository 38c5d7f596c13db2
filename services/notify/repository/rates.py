"""Token buckets for sending rates, shared by every dispatcher of every replica (``notify.rate_bucket``).

Time is the database's ``clock_timestamp()``: one clock for all replicas, and a rate is about real
throughput at the provider, so a test clock must not move it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_REFILL = text(
    "INSERT INTO notify.rate_bucket AS b (name, tokens, rate, capacity, updated_at) "
    "SELECT x.name, x.capacity, x.rate, x.capacity, clock_timestamp() "
    "FROM unnest(CAST(:names AS text[]), CAST(:rates AS float8[]), CAST(:capacities AS float8[])) "
    "AS x(name, rate, capacity) ORDER BY x.name "
    "ON CONFLICT (name) DO UPDATE SET "
    "tokens = LEAST(EXCLUDED.capacity, b.tokens + EXCLUDED.rate * "
    "GREATEST(EXTRACT(EPOCH FROM clock_timestamp() - b.updated_at), 0)), "
    "rate = EXCLUDED.rate, capacity = EXCLUDED.capacity, updated_at = clock_timestamp() "
    "RETURNING b.name, b.tokens")
_TAKE = text(
    "UPDATE notify.rate_bucket b SET tokens = b.tokens - x.amount "
    "FROM unnest(CAST(:names AS text[]), CAST(:amounts AS float8[])) AS x(name, amount) WHERE b.name = x.name")


async def refill(session: AsyncSession, buckets: Sequence[tuple[str, float, float]]) -> dict[str, float]:
    """Refill and lock the named buckets (name, rate per second, capacity) until the transaction ends; returns
    the tokens each holds now.  Rows are locked in name order, so dispatchers never deadlock on them."""
    rows = await session.execute(_REFILL, {"names": [b[0] for b in buckets], "rates": [b[1] for b in buckets],
                                           "capacities": [b[2] for b in buckets]})
    return {r[0]: float(r[1]) for r in rows}


async def take(session: AsyncSession, amounts: dict[str, float]) -> None:
    spent = {name: amount for name, amount in amounts.items() if amount > 0}
    if spent:
        await session.execute(_TAKE, {"names": list(spent), "amounts": list(spent.values())})
