"""A raw store read as a :class:`~tidemark.sources.Source`: ``tidemark.run(mapping, RawSource(...), sink)``.

Each record becomes a :class:`~tidemark.documents.RawDocument` (the envelope; ``captured_at`` = ``fetched_at``)
with the record's position. ``read`` asks the store for one batch of records at a time (``batch_records`` and
``batch_bytes`` bound it), so memory never grows with the store. A record the store could not read comes as a
document with ``error`` set (the runtime quarantines it) and the stream goes on past its position.

Filters (``tidemark run --raw RAW --since/--until/--game``): ``since`` / ``until`` keep the records fetched in
``[since, until)`` (UTC), ``games`` the records whose source parameters name one of those games (the path
parameter ``game_pk`` / ``gamePk``, or the query parameters ``gamePk`` / ``gamePks``). A record the store could
not read is kept whatever the filters say: it cannot be told apart, and it is reported rather than hidden.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any

from tidemark.documents import Position, RawDocument
from tidemark.errors import ConfigError
from tidemark.raw.base import RawRecord, RawStore, records, utc

#: the source parameters that name a game (path parameters of the game endpoints, query parameters of schedules)
GAME_PARAMS = ("game_pk", "gamePk", "gamePks")


class RawSource:
    """The records of a raw store (all, or one endpoint / one endpoint and method), in position order; replayable.

    ``store`` is a :class:`~tidemark.raw.base.RawStore` (the caller closes it) or a URL that
    :func:`tidemark.raw.open_raw` opens now (a missing store fails here, before anything is written) and
    :meth:`close` closes. ``select`` is ``"endpoint"`` or ``"endpoint/method"``, e.g. ``"game/liveGameV1"``.
    """

    replayable = True
    total_bytes = 0  # unknown without reading the store
    files = 0

    def __init__(
        self,
        store: RawStore | str,
        *,
        select: str | None = None,
        batch_records: int = 64,
        batch_bytes: int = 64 << 20,
        since: datetime | None = None,
        until: datetime | None = None,
        games: Collection[int | str] = (),
    ) -> None:
        from tidemark.raw import open_raw

        if since is not None and until is not None and utc(since) >= utc(until):
            raise ConfigError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
        self.since = None if since is None else utc(since)
        self.until = None if until is None else utc(until)
        self.games = frozenset(str(game) for game in games)

        self._owned = not isinstance(store, RawStore)
        self.store = open_raw(store) if isinstance(store, str) else store
        self.endpoint, self.method = parse_select(select)
        self.batch_records = batch_records
        self.batch_bytes = batch_bytes

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        return self._read(after)

    def _read(self, after: Position | None) -> Iterator[RawDocument]:
        batches = {"limit": self.batch_records, "max_bytes": self.batch_bytes}
        for record in records(self.store, after, endpoint=self.endpoint, method=self.method, **batches):
            if self.keeps(record):
                yield record.document()

    def keeps(self, record: RawRecord) -> bool:
        """Whether ``record`` passes the filters (a record that could not be read always does)."""
        if record.error is not None:
            return True
        if self.since is not None and record.fetched_at < self.since:
            return False
        if self.until is not None and record.fetched_at >= self.until:
            return False
        return not self.games or not self.games.isdisjoint(games_of(record))

    def close(self) -> None:
        if self._owned:
            self.store.close()

    def __enter__(self) -> RawSource:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def filters(since: str | None, until: str | None, games: Collection[int]) -> dict[str, Any]:
    """``RawSource`` keyword arguments from the command line's ``--since`` / ``--until`` (an ISO date or time;
    a time without zone is UTC) and ``--game`` values."""
    return {"since": _when(since, "--since"), "until": _when(until, "--until"), "games": tuple(games)}


def _when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ConfigError(
            f"{flag} {text!r}: give a UTC date or time, e.g. 2024-07-12 or 2024-07-12T23:00:00Z"
        ) from None


def games_of(record: RawRecord) -> set[str]:
    """The game pks a record's source parameters name (a ``gamePks`` list counts each)."""
    found: set[str] = set()
    for params in (record.path_params, record.query_params):
        for name in GAME_PARAMS:
            found.update(part.strip() for part in params.get(name, "").split(",") if part.strip())
    return found


def parse_select(select: str | None) -> tuple[str | None, str | None]:
    """``"game/liveGameV1"`` -> ``("game", "liveGameV1")``; ``"game"`` -> ``("game", None)``; None -> all."""
    if not select:
        return None, None
    endpoint, _, method = select.partition("/")
    if not endpoint or "/" in method:
        raise ConfigError(f"select {select!r}: give an endpoint or endpoint/method, e.g. game/liveGameV1")
    return endpoint, method or None


__all__ = ["GAME_PARAMS", "RawSource", "filters", "games_of", "parse_select"]
