"""Token buckets for per-sender and per-account sending rates
(segments per second for SMS, calls per second for voice)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    capacity: float
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def available(self, now: float) -> float:
        self._refill(now)
        return self.tokens

    def take(self, now: float, amount: float) -> bool:
        self._refill(now)
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True

    def wait_for(self, now: float, amount: float) -> float:
        """Seconds until ``amount`` tokens will be there."""
        self._refill(now)
        return 0.0 if self.tokens >= amount else (amount - self.tokens) / self.rate
