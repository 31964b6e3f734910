"""When a failed request is tried again, and after how long.

Retried: timeouts and connection errors (the request may not have reached the server, or its answer was lost),
``429 Too Many Requests`` and every ``5xx``. Never retried: any other status, ``4xx`` above all (a wrong URL or
parameter stays wrong; asking again only adds load). The wait before attempt ``n + 1`` is exponential backoff
with "equal jitter": ``d = min(max_delay, base_delay * 2 ** (n - 1))``, then a uniform draw in ``[d / 2, d]``, so
clients that failed together do not retry together. A ``429`` or ``503`` with a ``Retry-After`` header (seconds,
or an HTTP date) waits what the server asked instead, up to ``max_retry_after``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: statuses worth another attempt besides every 5xx
RETRY_STATUSES = frozenset({429})


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or 500 <= status <= 599


@dataclass
class RetryPolicy:
    """How many attempts a request gets and how long to wait between them (see the module docstring)."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), jittered."""
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return self.rng.uniform(delay / 2, delay)

    def delay(self, attempt: int, retry_after: str | None, now: datetime) -> float:
        """The wait after failed attempt ``attempt``: the server's ``Retry-After`` when it gave a usable one."""
        asked = parse_retry_after(retry_after, now)
        if asked is not None:
            return min(asked, self.max_retry_after)
        return self.backoff(attempt)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: an integer of seconds or an HTTP date; ``None`` when absent or
    unreadable. A date in the past means "now" (0 seconds)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
