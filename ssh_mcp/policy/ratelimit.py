"""Per-token rate limits as pure decisions: the caller passes the clock's reading in.

A token bucket per token: ``per_minute`` requests fill it, one a ``60 / per_minute``
seconds, and it holds at most ``per_minute``, so a burst of a minute's worth is allowed
after a quiet minute and a steady rate above the limit is refused. Concurrency is a
plain count of requests in flight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Bucket:
    capacity: float
    tokens: float
    stamp: float


@dataclass
class RateLimits:
    """Decisions for every token by name. ``0`` turns a limit off."""

    per_minute: int
    max_concurrency: int
    _buckets: dict[str, Bucket] = field(default_factory=dict)
    _inflight: dict[str, int] = field(default_factory=dict)

    def acquire(self, name: str, now: float) -> int | None:
        """Admit one request for ``name`` now (and count it in flight), or return the
        whole seconds to wait before retrying (``Retry-After``)."""
        if self.max_concurrency and self._inflight.get(name, 0) >= self.max_concurrency:
            return 1
        if self.per_minute:
            rate = self.per_minute / 60.0
            b = self._buckets.get(name)
            if b is None:
                b = self._buckets[name] = Bucket(self.per_minute, self.per_minute, now)
            b.tokens = min(b.capacity, b.tokens + (now - b.stamp) * rate)
            b.stamp = now
            if b.tokens < 1.0:
                return max(1, math.ceil(round((1.0 - b.tokens) / rate, 6)))
            b.tokens -= 1.0
        self._inflight[name] = self._inflight.get(name, 0) + 1
        return None

    def release(self, name: str) -> None:
        left = self._inflight.get(name, 0) - 1
        if left > 0:
            self._inflight[name] = left
        else:
            self._inflight.pop(name, None)
