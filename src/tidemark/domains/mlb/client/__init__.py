"""The MLB Stats API client: the endpoint catalog (``../endpoints.yaml``), canonical requests, fetching with record /
replay (generic parts in :mod:`tidemark.http`), and what a schedule says (game pks, date chunks).

Nothing here writes tables: :func:`ingest` (one request list), :func:`backfill` (a season, resumable) and
:func:`live` (a day's games, polled) append responses to a raw store; ``backfill`` and ``live`` ask it what it holds
(:func:`stored_state`) and ``live`` calls a ``load()`` the caller gives after each round (the CLI: the stream).
Fetching returns :class:`~tidemark.http.FetchedResponse` objects, whose ``envelope`` is the document a raw store
keeps (see docs/mlb.md).
"""

from __future__ import annotations

from tidemark.domains.mlb.client.backfill import Backfill, BackfillSummary, backfill
from tidemark.domains.mlb.client.catalog import (
    Catalog,
    Endpoint,
    Param,
    PreparedRequest,
    builtin_catalog,
    load_catalog,
    mapping_of,
)
from tidemark.domains.mlb.client.ingest import IngestSummary, ingest
from tidemark.domains.mlb.client.live import LiveOptions, LiveSummary, live
from tidemark.domains.mlb.client.schedule import (
    ScheduledGame,
    date_chunks,
    day_schedule_params,
    game_pks,
    range_schedule_params,
    schedule_requests,
    scheduled_games,
    season_dates,
)
from tidemark.domains.mlb.client.statsapi import DEFAULT_CONCURRENCY, DEFAULT_RATE, StatsApiClient
from tidemark.domains.mlb.client.stored import FeedState, StoredState, feed_state, stored_state

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE",
    "Backfill",
    "BackfillSummary",
    "Catalog",
    "Endpoint",
    "FeedState",
    "IngestSummary",
    "LiveOptions",
    "LiveSummary",
    "Param",
    "PreparedRequest",
    "ScheduledGame",
    "StatsApiClient",
    "StoredState",
    "backfill",
    "builtin_catalog",
    "date_chunks",
    "day_schedule_params",
    "feed_state",
    "game_pks",
    "ingest",
    "live",
    "load_catalog",
    "mapping_of",
    "range_schedule_params",
    "schedule_requests",
    "scheduled_games",
    "season_dates",
    "stored_state",
]
