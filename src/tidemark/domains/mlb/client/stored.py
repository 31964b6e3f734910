"""What a game feed says, and what a raw store already holds: the questions a resumable backfill asks.

* :func:`feed_state`: a live feed's game, status, snapshot time, the poll interval it asks for (``metaData.wait``),
  and the people and teams it names — decoded with msgspec structs that skip everything else (a feed is ~1 MB,
  these fields a few hundred bytes).
* :func:`stored_state`: one pass over the records of a raw store (through its ordinary ``read``, filtered by
  endpoint and method, so every backend answers the same): the games whose **final** feed is stored, the game pks
  of stored boxscores, and the person and team ids of stored ``people`` / ``teams`` responses. A re-run asks for
  nothing it lists. The pass reads each stored feed once (decoding only the fields above); its cost grows with
  the store, not with what is left to fetch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from tidemark.documents import Position
from tidemark.domains.mlb.client.schedule import OVER_STATES


class _Status(msgspec.Struct, frozen=True):  # field names: the API's
    abstractGameState: str = ""
    detailedState: str = ""


class _Team(msgspec.Struct, frozen=True):
    id: int | None = None


class _Teams(msgspec.Struct, frozen=True):
    away: _Team = _Team()
    home: _Team = _Team()


class _GameData(msgspec.Struct, frozen=True):
    status: _Status = _Status()
    teams: _Teams = _Teams()
    players: dict[str, msgspec.Raw] = {}


class _Meta(msgspec.Struct, frozen=True):
    wait: float | None = None
    timeStamp: str = ""


class _Feed(msgspec.Struct, frozen=True):
    gamePk: int | None = None
    metaData: _Meta = _Meta()
    gameData: _GameData = _GameData()


class _FeedEnvelope(msgspec.Struct, frozen=True):
    response: _Feed = _Feed()


@dataclass(frozen=True)
class FeedState:
    """What one live feed snapshot says about its game."""

    game_pk: int
    abstract_state: str
    detailed_state: str
    timestamp: str  # metaData.timeStamp, YYYYMMDD_HHMMSS
    wait: float | None  # seconds the feed asks clients to wait before polling again
    people: frozenset[int]
    teams: frozenset[int]

    @property
    def is_final(self) -> bool:
        """Final and complete (a suspended game is final only once resumed): what a backfill keeps."""
        return self.abstract_state == "Final" and not self.detailed_state.startswith(("Suspended", *OVER_STATES))

    @property
    def is_over(self) -> bool:
        """Nothing more will happen today (Final, suspended, Postponed, Cancelled): a live poll stops."""
        return self.abstract_state == "Final" or self.detailed_state.startswith(OVER_STATES)


_FEED = msgspec.json.Decoder(_FeedEnvelope)
_BARE_FEED = msgspec.json.Decoder(_Feed)


def feed_state(data: bytes, *, enveloped: bool = True) -> FeedState | None:
    """The state of a live feed (an envelope's bytes, or the bare document); None when it is not a game feed."""
    try:
        feed = _FEED.decode(data).response if enveloped else _BARE_FEED.decode(data)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None
    if feed.gamePk is None:
        return None
    game = feed.gameData
    people = frozenset(int(key[2:]) for key in game.players if key.startswith("ID") and key[2:].isdigit())
    teams = frozenset(team.id for team in (game.teams.away, game.teams.home) if team.id is not None)
    return FeedState(
        feed.gamePk,
        game.status.abstractGameState,
        game.status.detailedState,
        feed.metaData.timeStamp,
        feed.metaData.wait,
        people,
        teams,
    )


class RawLike(Protocol):
    """What the MLB workflows need of a raw store (:class:`tidemark.raw.RawStore`): append and read."""

    def append(self, records: Iterable[Any]) -> Any: ...

    def read(
        self,
        after: Position | None = None,
        *,
        limit: int = 256,
        max_bytes: int = 64 << 20,
        endpoint: str | None = None,
        method: str | None = None,
    ) -> list[Any]: ...


@dataclass
class StoredState:
    """What a raw store holds for the MLB workflows (see the module docstring)."""

    final_games: set[int] = field(default_factory=set)
    feeds: dict[int, FeedState] = field(default_factory=dict)  # the newest snapshot stored of every game
    boxscores: set[int] = field(default_factory=set)
    people: set[int] = field(default_factory=set)
    teams: set[int] = field(default_factory=set)


def stored_state(store: RawLike) -> StoredState:
    """One pass over the store's game feeds, boxscores, people and teams (see the module docstring)."""
    state = StoredState()
    for record in _records(store, "game", "liveGameV1"):
        feed = feed_state(record.data)
        if feed is None:
            continue
        before = state.feeds.get(feed.game_pk)
        if before is None or feed.timestamp >= before.timestamp:
            state.feeds[feed.game_pk] = feed
        if feed.is_final:
            state.final_games.add(feed.game_pk)
    for record in _records(store, "game", "boxscore"):
        state.boxscores.update(_ints([record.path_params.get("game_pk")]))
    for record in _records(store, "person", "person"):
        state.people.update(_ints([record.path_params.get("personId"), *_split(record.query_params, "personIds")]))
    for record in _records(store, "team", "teams"):
        state.teams.update(_ints(_split(record.query_params, "teamId")))
    return state


def _records(store: RawLike, endpoint: str, method: str) -> Iterable[Any]:
    from tidemark.raw.base import records

    for record in records(store, limit=64, endpoint=endpoint, method=method):
        if record.error is None and 200 <= record.status_code < 300:
            yield record


def _split(params: dict[str, str], name: str) -> list[str]:
    return params.get(name, "").split(",") if params.get(name) else []


def _ints(values: Iterable[str | None]) -> set[int]:
    return {int(value) for value in values if value and value.strip().isdigit()}


__all__ = ["FeedState", "RawLike", "StoredState", "feed_state", "stored_state"]
