"""What a schedule says, and the schedule requests a backfill or a live day makes.

* :func:`scheduled_games`: one entry per game of a schedule document. A suspended game is listed on the day it
  started and on the day it resumed: it is one game here, with the state of its latest listing and both dates.
* :func:`date_chunks`: a date range cut into ranges of at most ``days`` days: a season is a handful of ranged
  schedule requests, not one per day.
* :func:`range_schedule_params` / :func:`day_schedule_params`: the canonical parameters (``sportId=1``,
  ``startDate``, ``endDate``, plus ``gameType`` only when given; ``sportId=1`` and ``date`` for one day).
* :func:`season_dates`: the first and last day of a season from a ``seasons`` document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tidemark.errors import ConfigError, SourceError

#: detailed states after which a game will not change any more (besides Final)
OVER_STATES = ("Postponed", "Cancelled")


@dataclass(frozen=True)
class ScheduledGame:
    """A game as the schedule lists it (its latest listing when it is listed on several dates)."""

    game_pk: int
    game_type: str
    game_date: str  # the start time, UTC ISO 8601, as listed
    official_date: str
    abstract_state: str  # Preview / Live / Final
    detailed_state: str  # Scheduled, Pre-Game, In Progress, Final, Suspended: Rain, Postponed, ...
    dates: tuple[str, ...]  # the schedule dates that list it, in order

    @property
    def is_final(self) -> bool:
        """Over and complete: Final, and not suspended (a suspended game is final only once resumed)."""
        return self.abstract_state == "Final" and not self.detailed_state.startswith(("Suspended", *OVER_STATES))

    @property
    def is_over(self) -> bool:
        """Nothing more will happen today: final, postponed or cancelled."""
        return self.is_final or self.detailed_state.startswith(OVER_STATES)


def scheduled_games(document: Mapping[str, Any]) -> list[ScheduledGame]:
    """The games of a schedule document (the response, not the envelope), each once, in order of first listing."""
    games: dict[int, ScheduledGame] = {}
    for day in _sorted_dates(document):
        for game in day.get("games") or []:
            listed = _game(game, str(day.get("date") or game.get("officialDate") or ""))
            before = games.get(listed.game_pk)
            if before is not None:
                listed = _merge(before, listed)
            games[listed.game_pk] = listed
    return list(games.values())


def game_pks(document: Mapping[str, Any]) -> list[int]:
    """The game pks of a schedule document, each once."""
    return [game.game_pk for game in scheduled_games(document)]


def _sorted_dates(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if not isinstance(document.get("dates"), list):
        raise SourceError("not a schedule document: no 'dates' list (pass the response, not the envelope)")
    return sorted(document["dates"], key=lambda day: str(day.get("date") or ""))


def _game(game: Mapping[str, Any], day: str) -> ScheduledGame:
    status = game.get("status") or {}
    return ScheduledGame(
        game_pk=int(game["gamePk"]),
        game_type=str(game.get("gameType") or ""),
        game_date=str(game.get("gameDate") or ""),
        official_date=str(game.get("officialDate") or day),
        abstract_state=str(status.get("abstractGameState") or ""),
        detailed_state=str(status.get("detailedState") or ""),
        dates=(day,),
    )


def _merge(before: ScheduledGame, later: ScheduledGame) -> ScheduledGame:
    dates = before.dates + tuple(d for d in later.dates if d not in before.dates)
    return ScheduledGame(
        later.game_pk,
        later.game_type,
        later.game_date,
        later.official_date,
        later.abstract_state,
        later.detailed_state,
        dates,
    )


def date_chunks(start: date, end: date, days: int = 31) -> list[tuple[date, date]]:
    """``[start, end]`` (both included) cut into consecutive ranges of at most ``days`` days."""
    if end < start:
        raise ConfigError(f"the date range ends ({end}) before it starts ({start})")
    if days < 1:
        raise ConfigError(f"a schedule chunk must span at least one day, got {days}")
    chunks: list[tuple[date, date]] = []
    first = start
    while first <= end:
        last = min(first + timedelta(days=days - 1), end)
        chunks.append((first, last))
        first = last + timedelta(days=1)
    return chunks


def range_schedule_params(start: date, end: date, game_types: Sequence[str] | None = None) -> dict[str, object]:
    """A backfill's schedule request: exactly ``sportId=1, startDate, endDate`` (+ ``gameType`` when given)."""
    params: dict[str, object] = {"sportId": 1, "startDate": start.isoformat(), "endDate": end.isoformat()}
    if game_types:
        params["gameType"] = ",".join(game_types)
    return params


def day_schedule_params(day: date) -> dict[str, object]:
    """A live day's schedule request: exactly ``sportId=1, date``."""
    return {"sportId": 1, "date": day.isoformat()}


def schedule_requests(
    start: date, end: date, game_types: Sequence[str] | None = None, days: int = 31
) -> list[dict[str, object]]:
    """The parameters of every schedule request covering ``[start, end]``."""
    return [range_schedule_params(first, last, game_types) for first, last in date_chunks(start, end, days)]


def season_dates(document: Mapping[str, Any], season: int | str) -> tuple[date, date]:
    """The first and last day of ``season`` (spring training to the end of the postseason) in a ``seasons``
    document (the response)."""
    for entry in _seasons(document.get("seasons")):
        if str(entry.get("seasonId")) == str(season):
            first = entry.get("seasonStartDate") or entry.get("springStartDate") or entry.get("regularSeasonStartDate")
            last = entry.get("seasonEndDate") or entry.get("postSeasonEndDate") or entry.get("regularSeasonEndDate")
            if first and last:
                return date.fromisoformat(str(first)), date.fromisoformat(str(last))
            raise SourceError(f"season {season}: the seasons document has no start and end dates")
    raise SourceError(f"season {season} is not in the seasons document")


def _seasons(value: object) -> Iterable[Mapping[str, Any]]:
    return [entry for entry in value if isinstance(entry, Mapping)] if isinstance(value, list) else []
