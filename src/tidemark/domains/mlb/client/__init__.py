"""The MLB Stats API client: the endpoint catalog (``../endpoints.yaml``), canonical requests, fetching with record /
replay (generic parts in :mod:`tidemark.http`), and what a schedule says (game pks, date chunks).

Nothing here writes tables; :func:`ingest` appends responses to a store with an ``append(records)`` method (the raw
store). Fetching returns :class:`~tidemark.http.FetchedResponse` objects, whose
``envelope`` is the document a raw store keeps (see docs/mlb.md).
"""

from __future__ import annotations

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

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE",
    "Catalog",
    "Endpoint",
    "IngestSummary",
    "Param",
    "PreparedRequest",
    "ScheduledGame",
    "StatsApiClient",
    "builtin_catalog",
    "date_chunks",
    "day_schedule_params",
    "game_pks",
    "ingest",
    "load_catalog",
    "mapping_of",
    "range_schedule_params",
    "schedule_requests",
    "scheduled_games",
    "season_dates",
]
