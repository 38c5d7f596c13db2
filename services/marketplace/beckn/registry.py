"""Subscriber keys from the Beckn network registry: ``POST {registry}/lookup``, cached.

A request's ``keyId`` names the subscriber and its key (``{subscriber_id}|{unique_key_id}|ed25519``);
the key that verifies it is the one the network registry lists for that subscriber, and only while
the entry is ``SUBSCRIBED`` and inside its ``valid_from``/``valid_until``.  Answers are kept for
``beckn_registry_cache_seconds`` (a miss for ``beckn_registry_miss_cache_seconds``, so a BAP that
has just subscribed is not refused for long, and a stranger's keyIds do not each cost a lookup);
concurrent lookups of one key share a single request.  Times are the service clock's.

Without ``GRAMSETU_MARKETPLACE_BECKN_REGISTRY_URL`` (a private network, development) the keys are
the entries an administrator put in the ``beckn_subscriber`` table.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from services.marketplace.rules.beckn import parse_time
from services.marketplace.settings import MarketplaceSettings


class RegistryUnavailable(Exception):
    """The registry did not answer; the request cannot be verified now (the caller may retry)."""


def usable_key(entries: Any, subscriber_id: str, unique_key_id: str, subscriber_type: str,
               now: datetime) -> str | None:
    """The signing key of the entry that matches, if it is subscribed and valid at ``now`` (pure)."""
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("subscriber_id") != subscriber_id:
            continue
        if (entry.get("unique_key_id") or entry.get("ukId")) != unique_key_id:
            continue
        if entry.get("type") != subscriber_type or entry.get("status") != "SUBSCRIBED":
            continue
        valid_from, valid_until = parse_time(entry.get("valid_from")), parse_time(entry.get("valid_until"))
        if (valid_from is not None and now < valid_from) or (valid_until is not None and now >= valid_until):
            continue
        key = entry.get("signing_public_key")
        return key if isinstance(key, str) and key else None
    return None


@dataclass
class _Cached:
    key: str | None
    until: datetime


class RegistryKeys:
    """One per process and registry URL (see :func:`registry_for`)."""

    def __init__(self, settings: MarketplaceSettings) -> None:
        self.url = settings.beckn_registry_url.rstrip("/")
        self.ttl = timedelta(seconds=settings.beckn_registry_cache_seconds)
        self.miss_ttl = timedelta(seconds=settings.beckn_registry_miss_cache_seconds)
        self.timeout = settings.beckn_registry_timeout_seconds
        self.query = {"type": "BAP", "domain": settings.beckn_domain, "country": settings.beckn_country}
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[str | None]] = {}
        self.lookups = 0  # requests sent to the registry (the cache's effect is visible in tests)

    async def key(self, subscriber_id: str, unique_key_id: str, now: datetime) -> str | None:
        ident = (subscriber_id, unique_key_id)
        cached = self._cache.get(ident)
        if cached is not None and now < cached.until:
            return cached.key
        pending = self._inflight.get(ident)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._inflight[ident] = future
        try:
            key = await self._fetch(subscriber_id, unique_key_id, now)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        else:
            future.set_result(key)
            if len(self._cache) > 10_000:  # keyIds are the caller's to invent: keep the map bounded
                self._cache = {k: v for k, v in self._cache.items() if v.until > now}
            self._cache[ident] = _Cached(key, now + (self.ttl if key else self.miss_ttl))
            return key
        finally:
            del self._inflight[ident]

    async def _fetch(self, subscriber_id: str, unique_key_id: str, now: datetime) -> str | None:
        self.lookups += 1
        body = {**self.query, "subscriber_id": subscriber_id, "unique_key_id": unique_key_id}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http, \
                    http.post(f"{self.url}/lookup", json=body) as response:
                if response.status != 200:
                    raise RegistryUnavailable(f"the registry answered {response.status}")
                entries = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RegistryUnavailable(f"the registry lookup failed: {type(exc).__name__}") from exc
        return usable_key(entries, subscriber_id, unique_key_id, "BAP", now)


_REGISTRIES: dict[str, RegistryKeys] = {}


def registry_for(settings: MarketplaceSettings) -> RegistryKeys:
    found = _REGISTRIES.get(settings.beckn_registry_url)
    if found is None:
        found = _REGISTRIES[settings.beckn_registry_url] = RegistryKeys(settings)
    return found
