"""A season (or any date range) of games into a raw store: ``tidemark backfill``.

::

    season dates        1 request (mlb:season seasonId=S), unless --start and --end are both given
    schedule            1 ranged request per chunk of up to 31 days (sportId=1, startDate, endDate[, gameType])
    game pks            every game of the schedules once (a suspended game listed on two dates is one game),
                        kept when the schedule says it is final (not postponed, cancelled or suspended)
    what is stored      one pass over the raw store (stored.py): games whose final feed it holds are skipped
    feeds               1 request per game left (mlb:live_game gamePk=P), concurrently, appended as they arrive
    --with boxscore     1 request per game whose boxscore is not stored
    --with teams        1 request per team of the games' feeds not stored yet (mlb:teams teamId=T)
    --with people       the people of the games' feeds not stored yet, ``people_batch`` ids a request (mlb:people)

Every response is appended to the raw store (schedules and season too); a re-run fetches the schedules again
(a handful of requests: games may have become final since) and nothing else that is stored. Failed requests are
counted and the others go on. An interruption keeps every response that arrived (appended before it propagates).
Nothing here writes tables: the caller streams the raw store into a sink afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from tidemark.domains.mlb.client.catalog import PreparedRequest
from tidemark.domains.mlb.client.ingest import default_to_record
from tidemark.domains.mlb.client.schedule import ScheduledGame, schedule_requests, scheduled_games, season_dates
from tidemark.domains.mlb.client.statsapi import StatsApiClient
from tidemark.domains.mlb.client.stored import FeedState, RawLike, StoredState, feed_state, stored_state
from tidemark.errors import ConfigError
from tidemark.http.client import FetchedResponse
from tidemark.http.errors import FetchError

#: what --with may name
RELATED = ("boxscore", "people", "teams")


class BackfillReporter(Protocol):
    """Progress of the requests of one phase (the CLI draws a bar with ETA; the core never prints)."""

    def phase(self, name: str, total: int) -> None: ...

    def advance(self, done: int = 1) -> None: ...


class _Quiet:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, done: int = 1) -> None:
        pass


@dataclass
class BackfillSummary:
    """What a backfill did. ``games``: final games the schedules list; ``stored``: of those, already stored before
    this run; ``fetched``: feeds fetched now; ``not_final``: games listed but not final (not fetched)."""

    start: date | None = None
    end: date | None = None
    games: int = 0
    stored: int = 0
    fetched: int = 0
    not_final: int = 0
    related: dict[str, int] = field(default_factory=dict)
    appended: int = 0
    duplicates: int = 0
    failures: list[FetchError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class Backfill:
    """One backfill's settings (see the module docstring)."""

    season: int | None = None
    start: date | None = None
    end: date | None = None
    game_types: Sequence[str] = ()
    related: Sequence[str] = ()
    chunk_days: int = 31
    people_batch: int = 50
    batch: int = 16  # records appended per call to the store

    def __post_init__(self) -> None:
        unknown = [name for name in self.related if name not in RELATED]
        if unknown:
            raise ConfigError(f"--with {','.join(unknown)}: unknown; give any of {', '.join(RELATED)}")
        if self.season is None and (self.start is None or self.end is None):
            raise ConfigError("a backfill needs --season, or --start and --end")
        if self.people_batch < 1:
            raise ConfigError(f"people_batch must be at least 1, got {self.people_batch}")


def backfill(
    api: StatsApiClient, store: RawLike, settings: Backfill, reporter: BackfillReporter | None = None
) -> BackfillSummary:
    """Fetch the games of ``settings`` into ``store`` (a raw store), skipping what it already holds."""
    run = _Run(api, store, settings, reporter or _Quiet())
    start, end = run.dates()
    run.summary.start, run.summary.end = start, end
    games = run.schedule(start, end)
    final = [game for game in games if game.is_final]
    held = stored_state(store)
    run.summary.games, run.summary.not_final = len(final), len(games) - len(final)
    todo = [game.game_pk for game in final if game.game_pk not in held.final_games]
    run.summary.stored = len(final) - len(todo)
    fetched = run.feeds(todo)
    run.summary.fetched = len(fetched)
    feeds = {pk: held.feeds[pk] for pk in (g.game_pk for g in final) if pk in held.feeds} | fetched
    run.related(final, feeds, held)
    return run.summary


@dataclass
class _Run:
    api: StatsApiClient
    store: RawLike
    settings: Backfill
    reporter: BackfillReporter
    summary: BackfillSummary = field(default_factory=BackfillSummary)
    to_record: Callable[[FetchedResponse], Any] = field(default_factory=default_to_record)

    def dates(self) -> tuple[date, date]:
        s = self.settings
        if s.start is not None and s.end is not None:
            return s.start, s.end
        assert s.season is not None
        responses = list(self.fetch("season", [self.api.prepare("season", {"seasonId": s.season})]))
        if not responses:
            raise self.summary.failures[-1]
        first, last = season_dates(_json(responses[0]), s.season)
        return s.start or first, s.end or last

    def schedule(self, start: date, end: date) -> list[ScheduledGame]:
        params = schedule_requests(start, end, list(self.settings.game_types) or None, self.settings.chunk_days)
        days: list[Any] = []
        for response in self.fetch("schedule", [self.api.prepare("schedule", p) for p in params]):
            days.extend(_json(response).get("dates") or [])
        return scheduled_games({"dates": days})  # one listing per game across every chunk

    def feeds(self, pks: Sequence[int]) -> dict[int, FeedState]:
        fetched: dict[int, FeedState] = {}
        requests = [self.api.prepare("live_game", {"gamePk": pk}) for pk in pks]
        for response in self.fetch("feeds", requests):
            state = feed_state(response.body, enveloped=False)
            if state is not None:
                fetched[state.game_pk] = state
        return fetched

    def related(self, final: list[ScheduledGame], feeds: dict[int, FeedState], held: StoredState) -> None:
        wanted = self.settings.related
        if "boxscore" in wanted:
            pks = [g.game_pk for g in final if g.game_pk not in held.boxscores]
            self.count("boxscore", [self.api.prepare("boxscore", {"gamePk": pk}) for pk in pks])
        if "teams" in wanted:
            teams = sorted({t for feed in feeds.values() for t in feed.teams} - held.teams)
            self.count("teams", [self.api.prepare("teams", {"teamId": t}) for t in teams])
        if "people" in wanted:
            people = sorted({p for feed in feeds.values() for p in feed.people} - held.people)
            size = self.settings.people_batch
            batches = [people[i : i + size] for i in range(0, len(people), size)]
            self.count("people", [self.api.prepare("people", {"personIds": batch}) for batch in batches])

    def count(self, name: str, requests: list[PreparedRequest]) -> None:
        self.summary.related[name] = sum(1 for _ in self.fetch(name, requests))

    def fetch(self, phase: str, requests: list[PreparedRequest]) -> Iterator[FetchedResponse]:
        """Every response, appended to the store in batches as it arrives (and before an interruption
        propagates); failures are counted and skipped."""
        self.reporter.phase(phase, len(requests))
        pending: list[Any] = []
        try:
            for outcome in self.api.fetch_many(requests):
                self.reporter.advance()
                if outcome.error is not None:
                    self.summary.failures.append(outcome.error)
                    continue
                assert outcome.result is not None
                pending.append(self.to_record(outcome.result))
                if len(pending) >= self.settings.batch:
                    taken, pending = pending, []
                    self.append(taken)
                yield outcome.result
        finally:
            if pending:
                self.append(pending)

    def append(self, records: Iterable[Any]) -> None:
        counts = self.store.append(records)
        self.summary.appended += int(getattr(counts, "appended", 0))
        self.summary.duplicates += int(getattr(counts, "duplicates", 0))


def _json(response: FetchedResponse) -> dict[str, Any]:
    value = response.json()
    return value if isinstance(value, dict) else {}


__all__ = ["RELATED", "Backfill", "BackfillReporter", "BackfillSummary", "backfill"]
