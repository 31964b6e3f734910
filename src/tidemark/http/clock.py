"""Time as an object, so that fetching, rate limiting and retrying can be tested without sleeping.

A :class:`Clock` answers three questions: what time it is on the wall (UTC, for ``fetched_at``), a monotonic
reading (for intervals: the rate limit, backoff), and "wait this long". :class:`SystemClock` asks the machine;
:class:`ManualClock` is a clock whose time only moves when someone sleeps on it or calls :meth:`ManualClock.advance`,
and which remembers every sleep (tests assert on them, never on real elapsed time).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the HTTP layer needs to know about time."""

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences mean anything)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (nothing when ``seconds <= 0``)."""
        ...


class SystemClock:
    """The machine's clocks and ``time.sleep``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when slept on or advanced; thread-safe, never waits for real.

    ``sleeps`` lists every positive sleep in the order they were asked for.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2024, 10, 27, tzinfo=UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self.sleeps.append(seconds)
            self._elapsed += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        with self._lock:
            self._elapsed += seconds
