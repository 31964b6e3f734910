"""Fetch catalog requests and append the responses to a store: the core of ``tidemark ingest`` and ``backfill``.

The store is anything with ``append(records) -> counts`` (the raw store's interface, ``tidemark.raw``: counts
with ``appended`` and ``duplicates``). Each response becomes a record through ``to_record(response)``; by default
the raw store's ``record_from_envelope(envelope, fetched_at, origin)`` when ``tidemark.raw`` is installed, else the
:class:`~tidemark.http.FetchedResponse` itself. Responses are appended in batches of ``batch`` as they arrive (a
crash loses at most one batch, which a re-run fetches again); a failed request is counted and reported in the
summary, and the others go on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tidemark.domains.mlb.client.catalog import PreparedRequest
from tidemark.domains.mlb.client.statsapi import StatsApiClient
from tidemark.http.client import FetchedResponse
from tidemark.http.errors import FetchError


class Appender(Protocol):
    def append(self, records: Iterable[Any]) -> Any: ...


@dataclass
class IngestSummary:
    """What one ingest did: responses fetched and their bytes, records appended and already stored, failures."""

    responses: int = 0
    bytes: int = 0
    appended: int = 0
    duplicates: int = 0
    failures: list[FetchError] = field(default_factory=list)


def default_to_record() -> Callable[[FetchedResponse], Any]:
    try:
        raw = importlib.import_module("tidemark.raw.base")
    except ImportError:
        return lambda response: response
    make = raw.record_from_envelope
    return lambda response: make(response.envelope, response.fetched_at, response.url)


def ingest(
    api: StatsApiClient,
    requests: Iterable[PreparedRequest],
    store: Appender,
    *,
    batch: int = 16,
    to_record: Callable[[FetchedResponse], Any] | None = None,
) -> IngestSummary:
    """Fetch ``requests`` (concurrently, as the client allows) and append every response to ``store``."""
    convert = to_record or default_to_record()
    summary = IngestSummary()
    pending: list[Any] = []
    for outcome in api.fetch_many(requests):
        if outcome.error is not None:
            summary.failures.append(outcome.error)
            continue
        assert outcome.result is not None
        summary.responses += 1
        summary.bytes += len(outcome.result.body)
        pending.append(convert(outcome.result))
        if len(pending) >= batch:
            _append(store, pending, summary)
            pending = []
    if pending:
        _append(store, pending, summary)
    return summary


def _append(store: Appender, records: list[Any], summary: IngestSummary) -> None:
    counts = store.append(records)
    summary.appended += int(getattr(counts, "appended", len(records)))
    summary.duplicates += int(getattr(counts, "duplicates", 0))
