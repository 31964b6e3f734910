"""The MLB Stats API client: catalog requests sent through the generic :class:`~tidemark.http.Fetcher`.

::

    with StatsApiClient(replay="data/statsapi") as api:          # or record=DIR, or neither (the network)
        feed = api.fetch("live_game", {"gamePk": 747175})        # -> FetchedResponse (envelope, fetched_at)
        for outcome in api.fetch_many([api.prepare("boxscore", {"gamePk": pk}) for pk in pks]):
            ...                                                  # concurrent, bounded; errors per request

Replay answers from recorded envelopes and never touches the network (its default rate is unlimited: there is no
server to spare); record sends to the network and saves every response. Defaults for the network: 5 requests a
second overall, 4 at a time, 5 attempts per request, a 30 s timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import httpx

from tidemark.domains.mlb.client.catalog import Catalog, PreparedRequest, builtin_catalog
from tidemark.errors import ConfigError
from tidemark.http.client import FetchedResponse, Fetcher, FetchStats, Outcome, fetch_concurrently
from tidemark.http.clock import Clock, SystemClock
from tidemark.http.recording import RecordTransport, ReplayTransport
from tidemark.http.retry import RetryPolicy

DEFAULT_RATE = 5.0
DEFAULT_CONCURRENCY = 4


class StatsApiClient:
    """Fetches MLB Stats API documents by catalog name (see the module docstring)."""

    def __init__(
        self,
        *,
        replay: str | Path | None = None,
        record: str | Path | None = None,
        transport: httpx.BaseTransport | None = None,
        catalog: Catalog | None = None,
        clock: Clock | None = None,
        rate: float | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
    ) -> None:
        if replay is not None and record is not None:
            raise ConfigError(
                "--replay and --record exclude each other: replay answers from a recording, record makes one"
            )
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.catalog = catalog or builtin_catalog()
        self.clock = clock or SystemClock()
        self.concurrency = concurrency
        if replay is not None:
            transport = ReplayTransport(replay)
        elif record is not None:
            transport = RecordTransport(transport or httpx.HTTPTransport(), record, clock=self.clock)
        if rate is None and replay is None:
            rate = DEFAULT_RATE
        self.fetcher = Fetcher(
            transport=transport, clock=self.clock, rate=rate, retry=retry, timeout=timeout, connections=concurrency
        )

    @property
    def stats(self) -> FetchStats:
        return self.fetcher.stats

    def prepare(self, endpoint: str, params: Mapping[str, object] | None = None) -> PreparedRequest:
        """The canonical request (ConfigError with a did-you-mean for unknown names)."""
        return self.catalog.prepare(endpoint, params)

    def fetch(self, endpoint: str, params: Mapping[str, object] | None = None) -> FetchedResponse:
        """One document of ``endpoint`` (a catalog name, ``mlb:`` optional)."""
        return self.send(self.prepare(endpoint, params))

    def send(self, request: PreparedRequest) -> FetchedResponse:
        return self.fetcher.get(request.url, request.query, request.key)

    def fetch_many(self, requests: Iterable[PreparedRequest]) -> Iterator[Outcome[PreparedRequest, FetchedResponse]]:
        """Every request, at most ``concurrency`` at a time, yielded as they complete (a failed one carries its
        :class:`~tidemark.http.FetchError`; the others go on)."""
        return fetch_concurrently(requests, self.send, concurrency=self.concurrency)

    def close(self) -> None:
        self.fetcher.close()

    def __enter__(self) -> StatsApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
