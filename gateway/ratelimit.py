"""Token buckets shared by every gateway replica, without a database trip per request.

The bucket itself lives in PostgreSQL (``gateway.rate_bucket``, refilled and debited by the
``gateway.take_tokens`` function in one round trip).  Each replica *leases* a batch of
tokens (``lease_fraction`` of the capacity, at most ``lease_max``) and spends them locally;
only when its lease runs out does it go back to the database.  When the shared bucket is
empty the replica remembers how long until the next token and answers 429 locally.

Error bound, for N replicas and lease size L:
* never more admitted than the shared bucket allows: every admitted request spent a token
  taken from PostgreSQL.  Because a leased token may be spent up to ``lease_seconds`` after
  it was taken, over any window T a client gets at most ``capacity + rate * (T + lease_seconds)``;
* a client may be refused early by at most ``(N - 1) * L`` tokens, those sitting unspent in
  other replicas' leases, for at most ``lease_seconds`` (unspent leases then lapse).
If PostgreSQL is unreachable, a replica falls back to a purely local bucket with the same
limit (fail open per replica, rather than turning a database outage into an API outage).

State stays bounded whatever keys callers make up (random usernames at the login): local
buckets past ``max_local_buckets`` are evicted, idle ones first (an evicted bucket only costs
a database trip: its unspent lease lapses, as above), and :meth:`SharedRateLimiter.sweep`
deletes shared rows idle longer than any bucket needs to refill (a missing row starts full,
so deleting a full bucket changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

import asyncpg

from gateway.config import GatewayConfig, Limit

log = logging.getLogger("gramsetu.gateway.ratelimit")


def source_address(peer: str | None, forwarded_for: str | None, trusted_proxies: list[str]) -> str:
    """The caller's address: the peer, or behind trusted proxies the last address they did not add
    (from anyone else X-Forwarded-For is ignored: it is the caller's to forge)."""
    peer = peer or "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop[:64]
    return peer


@dataclass
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after: int = 0

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.retry_after).encode()))
        return out


@dataclass
class _Local:
    tokens: float = 0.0
    lease_expires: float = 0.0
    blocked_until: float = 0.0
    shared_remaining: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Fallback bucket while the database is unreachable.
    fallback_tokens: float = -1.0
    fallback_at: float = 0.0


class SharedRateLimiter:
    def __init__(self, pool: asyncpg.Pool | None, config: GatewayConfig) -> None:
        self.pool = pool
        self.config = config
        self._buckets: dict[str, _Local] = {}

    def _evict(self, now: float) -> None:
        """Drop idle buckets (no live lease, no block); if every bucket is busy, drop half of them."""
        idle = [k for k, b in self._buckets.items()
                if b.lease_expires <= now and b.blocked_until <= now and not b.lock.locked()]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= self.config.max_local_buckets:
            for key in [k for k, b in self._buckets.items() if not b.lock.locked()][: len(self._buckets) // 2]:
                del self._buckets[key]

    def idle_horizon(self) -> float:
        """Seconds after which any configured bucket is full again: longer idle rows can go."""
        limits = [self.config.default_limit, self.config.login_limit, self.config.login_source_limit,
                  self.config.anonymous_limit,
                  *(rc.limit for rc in self.config.route_classes)]
        refill = max((lim.capacity / lim.rate_per_second for lim in limits if lim.rate_per_second > 0), default=0)
        return max(self.config.rate_bucket_idle_seconds, refill + self.config.lease_seconds)

    async def sweep(self, batch: int = 10_000) -> int:
        """Delete shared buckets idle past :meth:`idle_horizon`; returns how many went."""
        if self.pool is None:
            return 0
        deleted = 0
        while True:
            status = await self.pool.execute(
                "DELETE FROM gateway.rate_bucket WHERE key IN (SELECT key FROM gateway.rate_bucket "
                "WHERE updated_at < clock_timestamp() - make_interval(secs => $1) LIMIT $2)",
                self.idle_horizon(), batch,
            )
            count = int(status.split()[-1])
            deleted += count
            if count < batch:
                return deleted

    async def run_sweeper(self) -> None:
        """Every ``rate_bucket_sweep_seconds``; several replicas sweeping at once is harmless."""
        while True:
            await asyncio.sleep(self.config.rate_bucket_sweep_seconds)
            try:
                await self.sweep()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("rate-bucket sweep failed, retrying later: %s", exc)

    def _lease_size(self, limit: Limit) -> int:
        return max(1, min(self.config.lease_max, math.ceil(limit.capacity * self.config.lease_fraction)))

    async def take(self, key: str, limit: Limit) -> Decision:
        local = self._buckets.get(key)
        if local is None:
            if len(self._buckets) >= self.config.max_local_buckets:
                self._evict(time.monotonic())
            local = self._buckets[key] = _Local()
        now = time.monotonic()
        if local.tokens >= 1 and now < local.lease_expires:
            local.tokens -= 1
            return self._allowed(local, limit)
        if now < local.blocked_until:
            return self._denied(limit, local.blocked_until - now)
        async with local.lock:
            now = time.monotonic()
            if local.tokens >= 1 and now < local.lease_expires:  # another request just leased
                local.tokens -= 1
                return self._allowed(local, limit)
            if now < local.blocked_until:
                return self._denied(limit, local.blocked_until - now)
            return await self._lease(key, local, limit, now)

    async def _lease(self, key: str, local: _Local, limit: Limit, now: float) -> Decision:
        try:
            if self.pool is None:
                raise ConnectionError("no database pool")
            row = await self.pool.fetchrow(
                "SELECT granted, remaining, wait_seconds FROM gateway.take_tokens($1, $2, $3, $4)",
                key, float(limit.capacity), limit.rate_per_second, float(self._lease_size(limit)),
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError, asyncio.TimeoutError) as exc:
            log.warning("rate-limit store unreachable, limiting locally: %s", exc)
            return self._fallback(local, limit, now)
        assert row is not None
        local.shared_remaining = float(row["remaining"])
        if row["granted"] < 1:
            local.tokens = 0
            local.blocked_until = now + float(row["wait_seconds"])
            return self._denied(limit, float(row["wait_seconds"]))
        local.tokens = float(row["granted"]) - 1
        local.lease_expires = now + self.config.lease_seconds
        return self._allowed(local, limit)

    def _fallback(self, local: _Local, limit: Limit, now: float) -> Decision:
        if local.fallback_tokens < 0:
            local.fallback_tokens, local.fallback_at = limit.capacity, now
        local.fallback_tokens = min(limit.capacity,
                                    local.fallback_tokens + (now - local.fallback_at) * limit.rate_per_second)
        local.fallback_at = now
        if local.fallback_tokens >= 1:
            local.fallback_tokens -= 1
            return Decision(True, int(limit.capacity), int(local.fallback_tokens), 0)
        return self._denied(limit, (1 - local.fallback_tokens) / limit.rate_per_second)

    @staticmethod
    def _allowed(local: _Local, limit: Limit) -> Decision:
        remaining = min(limit.capacity, local.tokens + local.shared_remaining)
        missing = limit.capacity - remaining
        reset = math.ceil(missing / limit.rate_per_second) if limit.rate_per_second > 0 else 0
        return Decision(True, int(limit.capacity), int(remaining), reset)

    @staticmethod
    def _denied(limit: Limit, wait: float) -> Decision:
        retry = max(1, math.ceil(wait))
        return Decision(False, int(limit.capacity), 0, retry, retry)
