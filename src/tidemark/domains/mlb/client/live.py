"""Tonight's games, kept current while they are played: ``tidemark live``.

::

    schedule    mlb:schedule sportId=1 date=D, at the start and every ``schedule_every`` seconds (new games, times)
    a game is polled when its schedule says Live, or Preview and it starts within ``lead`` seconds, or the schedule
                already says it is over (one fetch, so the tables hold its final feed)
    each poll   mlb:live_game gamePk=P (no timecode: the newest snapshot), all due games of a round concurrently;
                the next poll of a game waits what its feed asks (``metaData.wait``), bounded by
                [min_interval, max_interval]; after an error, min_interval (the client already retried)
    a round     appends the new snapshots to the raw store and then calls ``load()`` once (the CLI streams the
                raw store into the sink), so the tables follow the games round by round
    a game stops when its own feed says Final (suspended included), Postponed or Cancelled: that fetch was its last
    the day ends when every game the schedule lists has stopped, when the wall clock passes ``until``, or when
                ``stop`` is set (SIGTERM / Ctrl-C: the round in progress finishes, its load included)

Time is the client's :class:`~tidemark.http.Clock`: with a :class:`~tidemark.http.ManualClock` a whole game
replays without sleeping. Snapshots may arrive out of order (a cache serving an older one): the raw store keeps
them all and the write contract keeps the newest by ``metaData.timeStamp``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tidemark.domains.mlb.client.ingest import default_to_record
from tidemark.domains.mlb.client.schedule import ScheduledGame, day_schedule_params, scheduled_games
from tidemark.domains.mlb.client.statsapi import StatsApiClient
from tidemark.domains.mlb.client.stored import RawLike, feed_state
from tidemark.errors import ConfigError
from tidemark.http.clock import SystemClock
from tidemark.http.errors import FetchError


@dataclass(frozen=True)
class LiveOptions:
    """How often to poll (seconds) and when the day ends (default: noon UTC the next day, after the latest
    West Coast games)."""

    min_interval: float = 5.0
    max_interval: float = 60.0
    schedule_every: float = 600.0
    lead: float = 1800.0
    until: datetime | None = None
    max_polls: int | None = None  # stop after this many feed polls (a bounded replay; None: when the games end)

    def __post_init__(self) -> None:
        if not 0 < self.min_interval <= self.max_interval:
            raise ConfigError(
                f"--min-interval {self.min_interval:g} / --max-interval {self.max_interval:g}: "
                "give 0 < min <= max (seconds)"
            )
        if self.max_polls is not None and self.max_polls < 1:
            raise ConfigError(f"--max-polls {self.max_polls}: give at least 1")

    def end_of(self, day: date) -> datetime:
        return self.until or datetime.combine(day + timedelta(days=1), time(12), tzinfo=UTC)


@dataclass
class _Game:
    scheduled: ScheduledGame
    next_at: float = 0.0  # monotonic seconds
    polls: int = 0
    over: bool = False
    timestamp: str = ""


@dataclass
class LiveSummary:
    """What a live day did: games followed, polls, snapshots appended (new) and unchanged, loads, errors."""

    day: date
    games: dict[int, str] = field(default_factory=dict)  # game pk -> last state seen (its feed's, else schedule's)
    polls: int = 0
    snapshots: int = 0
    unchanged: int = 0
    loads: int = 0
    errors: list[FetchError] = field(default_factory=list)
    reason: str = ""  # why it ended: "all games over", "day over", "stopped", "no games", "max polls reached"


def live(
    api: StatsApiClient,
    store: RawLike,
    day: date,
    *,
    load: Callable[[], object] | None = None,
    options: LiveOptions | None = None,
    stop: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
) -> LiveSummary:
    """Follow the games of ``day`` until they are over (see the module docstring)."""
    poller = _Poller(api, store, day, load, options or LiveOptions(), stop or threading.Event(), log or _silent)
    return poller.run()


def _silent(message: str) -> None:
    pass


@dataclass
class _Poller:
    api: StatsApiClient
    store: RawLike
    day: date
    load: Callable[[], object] | None
    options: LiveOptions
    stop: threading.Event
    log: Callable[[str], None]
    games: dict[int, _Game] = field(default_factory=dict)
    to_record: Callable[[Any], Any] = field(default_factory=default_to_record)

    def __post_init__(self) -> None:
        self.summary = LiveSummary(self.day)
        self.clock = self.api.clock
        self.next_schedule = self.clock.monotonic()
        self.until = self.options.end_of(self.day)
        self.schedule_read = False

    def run(self) -> LiveSummary:
        while not self.stop.is_set():
            if self.clock.monotonic() >= self.next_schedule:
                self.read_schedule()
            if self.clock.now() >= self.until:
                return self.end("day over")
            if self.schedule_read and not self.games:
                return self.end("no games")
            due = [game for game in self.games.values() if self.is_due(game)]
            if due:
                self.round(due)
            if self.games and all(game.over for game in self.games.values()):
                return self.end("all games over")
            if self.options.max_polls is not None and self.summary.polls >= self.options.max_polls:
                return self.end("max polls reached")
            self.wait()
        return self.end("stopped")

    def end(self, reason: str) -> LiveSummary:
        self.summary.reason = reason
        self.summary.games = {pk: _state_of(game) for pk, game in self.games.items()}
        return self.summary

    def read_schedule(self) -> None:
        self.next_schedule = self.clock.monotonic() + self.options.schedule_every
        request = self.api.prepare("schedule", day_schedule_params(self.day))
        try:
            response = self.api.send(request)
        except FetchError as exc:
            self.summary.errors.append(exc)
            self.log(f"schedule of {self.day}: {exc} (tried again in {self.options.min_interval:g} s)")
            self.next_schedule = self.clock.monotonic() + self.options.min_interval
            return
        self.store.append([self.to_record(response)])
        self.schedule_read = True
        document = response.json()
        for listed in scheduled_games(document if isinstance(document, dict) else {}):
            known = self.games.get(listed.game_pk)
            if known is None:
                self.games[listed.game_pk] = _Game(listed)
            else:
                known.scheduled = listed

    def is_due(self, game: _Game) -> bool:
        if game.over or game.next_at > self.clock.monotonic():
            return False
        listed = game.scheduled
        return listed.abstract_state != "Preview" or listed.is_over or self.starts_in(listed) <= self.options.lead

    def starts_in(self, scheduled: ScheduledGame) -> float:
        try:
            start = datetime.fromisoformat(scheduled.game_date.replace("Z", "+00:00"))
        except ValueError:
            return 0.0  # no usable start time: poll it
        return (start - self.clock.now()).total_seconds()

    def round(self, due: list[_Game]) -> None:
        requests = [self.api.prepare("live_game", {"gamePk": game.scheduled.game_pk}) for game in due]
        owners = {id(request): game for request, game in zip(requests, due, strict=True)}
        records: list[Any] = []
        for outcome in self.api.fetch_many(requests):  # in the order they complete
            game = owners[id(outcome.item)]
            game.polls += 1
            self.summary.polls += 1
            if outcome.error is not None:
                self.summary.errors.append(outcome.error)
                self.log(
                    f"game {game.scheduled.game_pk}: {outcome.error} (polled again in {self.options.min_interval:g} s)"
                )
                game.next_at = self.clock.monotonic() + self.options.min_interval
                continue
            assert outcome.result is not None
            records.append(self.to_record(outcome.result))
            self.observe(game, outcome.result.body)
        if records:
            self.append_and_load(records)

    def observe(self, game: _Game, body: bytes) -> None:
        state = feed_state(body, enveloped=False)
        wait = state.wait if state is not None and state.wait is not None else self.options.min_interval
        game.next_at = self.clock.monotonic() + min(max(wait, self.options.min_interval), self.options.max_interval)
        if state is None:
            self.log(f"game {game.scheduled.game_pk}: the feed is not a game feed; polled again")
            return
        game.timestamp = max(game.timestamp, state.timestamp)
        if state.is_over:
            game.over = True
            game.scheduled = _with_state(game.scheduled, state.abstract_state, state.detailed_state)
        elif state.abstract_state:
            game.scheduled = _with_state(game.scheduled, state.abstract_state, state.detailed_state)

    def append_and_load(self, records: list[Any]) -> None:
        counts = self.store.append(records)
        appended = int(getattr(counts, "appended", len(records)))
        self.summary.snapshots += appended
        self.summary.unchanged += int(getattr(counts, "duplicates", 0))
        if appended and self.load is not None:
            self.load()
            self.summary.loads += 1

    def wait(self) -> None:
        now = self.clock.monotonic()
        wakes = [self.next_schedule, now + (self.until - self.clock.now()).total_seconds()]
        for game in self.games.values():
            if not game.over:
                starts = now + self.starts_in(game.scheduled) - self.options.lead
                waiting = game.scheduled.abstract_state == "Preview" and not game.scheduled.is_over
                wakes.append(max(game.next_at, starts if waiting else now))
        seconds = max(min(wakes) - now, 0.0)
        if isinstance(self.clock, SystemClock):
            self.stop.wait(seconds)  # SIGTERM wakes it at once
        else:
            self.clock.sleep(seconds)


def _with_state(game: ScheduledGame, abstract: str, detailed: str) -> ScheduledGame:
    return ScheduledGame(
        game.game_pk, game.game_type, game.game_date, game.official_date, abstract, detailed, game.dates
    )


def _state_of(game: _Game) -> str:
    return game.scheduled.detailed_state or game.scheduled.abstract_state


__all__ = ["LiveOptions", "LiveSummary", "live"]
