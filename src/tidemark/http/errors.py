"""Errors of fetching over HTTP (all :class:`~tidemark.errors.SourceError`: input that could not be read)::

SourceError
└── FetchError               a request failed; names the URL
    ├── HttpStatusError          the server refused it (a 4xx other than 429): never retried
    ├── RetriesExhaustedError    timeouts, connection errors, 429 or 5xx on every attempt
    ├── InvalidResponseError     the answer is not the JSON document it should be
    └── NoRecordingError         replaying, and this request was never recorded (says how to record it)
"""

from __future__ import annotations

from tidemark.errors import SourceError


class FetchError(SourceError):
    """A request failed. ``url``: the request's URL; ``status``: the last HTTP status, if any."""

    def __init__(self, message: str, *, url: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.attempts = attempts


class HttpStatusError(FetchError):
    """A status that asking again will not change (404, 400, 403...): reported once, not retried."""


class RetriesExhaustedError(FetchError):
    """Every attempt failed with a retryable error; ``attempts`` says how many were made."""


class InvalidResponseError(FetchError):
    """A successful status whose body is not JSON."""


class NoRecordingError(FetchError):
    """Replay mode found no recorded response for a request."""
