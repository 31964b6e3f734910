"""Fetching JSON documents over HTTP: the client, its rate limit and retries, and record / replay transports.

Generic: nothing here knows an API. A domain pack (``tidemark.domains.mlb.client``) names its endpoints and builds
the :class:`RequestKey` of each request; this package sends it politely, or answers it from a recording.
"""

from __future__ import annotations

from tidemark.http.client import FetchedResponse, Fetcher, FetchStats, Outcome, fetch_concurrently, user_agent
from tidemark.http.clock import Clock, ManualClock, SystemClock
from tidemark.http.errors import (
    FetchError,
    HttpStatusError,
    InvalidResponseError,
    NoRecordingError,
    RetriesExhaustedError,
)
from tidemark.http.ratelimit import RateLimiter
from tidemark.http.recording import RecordTransport, ReplayTransport, RequestKey, key_extensions, read_envelope
from tidemark.http.retry import RetryPolicy, parse_retry_after

__all__ = [
    "Clock",
    "FetchError",
    "FetchStats",
    "FetchedResponse",
    "Fetcher",
    "HttpStatusError",
    "InvalidResponseError",
    "ManualClock",
    "NoRecordingError",
    "Outcome",
    "RateLimiter",
    "RecordTransport",
    "ReplayTransport",
    "RequestKey",
    "RetriesExhaustedError",
    "RetryPolicy",
    "SystemClock",
    "fetch_concurrently",
    "key_extensions",
    "parse_retry_after",
    "read_envelope",
    "user_agent",
]
