"""A global rate limit: a token bucket shared by every thread of a client.

The bucket holds at most ``burst`` tokens and gains ``rate`` tokens a second; a request takes one token, waiting
for it when the bucket is empty. It is kept in its "virtual scheduling" form (GCRA): instead of a token count the
limiter remembers the earliest time the next request may start, ``next_at``; a request reserves the slot
``max(now, next_at - (burst - 1) / rate)`` and pushes ``next_at`` one interval (``1 / rate``) past it. Reserving
under a lock and sleeping outside it lets many threads wait at once while their start times stay spaced: ``n``
requests through a limiter with ``burst = 1`` take at least ``(n - 1) / rate`` seconds, however many threads send
them. Time comes from a :class:`~tidemark.http.clock.Clock`, so tests use a manual one.
"""

from __future__ import annotations

import threading

from tidemark.errors import ConfigError
from tidemark.http.clock import Clock


class RateLimiter:
    """At most ``rate`` requests a second on average, ``burst`` of them back to back."""

    def __init__(self, rate: float, clock: Clock, *, burst: int = 1) -> None:
        if rate <= 0:
            raise ConfigError(f"the rate limit must be positive (requests per second), got {rate}")
        if burst < 1:
            raise ConfigError(f"the rate limit's burst must be at least 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._interval = 1.0 / rate
        self._next_at: float | None = None
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for this request's slot; returns the seconds waited (0.0 when a token was there)."""
        with self._lock:
            now = self._clock.monotonic()
            if self._next_at is None:
                self._next_at = now
            slot = max(now, self._next_at - (self.burst - 1) * self._interval)
            self._next_at = max(self._next_at, slot) + self._interval
        wait = slot - now
        if wait > 0:
            self._clock.sleep(wait)
        return max(wait, 0.0)
